// LTI Dynamic Registration 1.0: "Done" tells the LMS's registration window or frame that the tool has finished.
document.querySelectorAll("[data-lti-close]").forEach(function (button) {
  button.addEventListener("click", function () {
    (window.opener || window.parent).postMessage({subject: "org.imsglobal.lti.close"}, "*");
  });
});

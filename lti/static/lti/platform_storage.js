// LTI Client Side postMessages (platform storage): the login's state and nonce kept in, then read back from, the
// LMS page's storage frame, for framed launches whose browser refuses the tool's cookie.
(function () {
  "use strict";
  var page = document.getElementById("platform-storage");
  var data = page.dataset;
  var TIMEOUT_MS = 10000;  // a loaded machine answers late; after this the new-window link shows
  var host = window.parent !== window ? window.parent : window.opener;

  function storageFrame() {
    if (!host) { return null; }
    if (data.target === "_parent") { return host; }
    try { return host.frames[data.target] || null; } catch (e) { return null; }
  }

  function call(subject, fields) {
    // One request; its answer must come from the platform's origin and carry our message id.
    return new Promise(function (resolve, reject) {
      var frame = storageFrame();
      if (!frame) { reject(new Error("no storage frame")); return; }
      var id = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Math.random()).slice(2);
      var timer = setTimeout(function () { done(); reject(new Error("no answer")); }, TIMEOUT_MS);
      function listener(event) {
        var answer = event.data;
        if (event.origin !== data.origin || !answer || typeof answer !== "object") { return; }
        if (answer.subject !== subject + ".response" || answer.message_id !== id) { return; }
        done();
        if (answer.error) { reject(new Error(answer.error.code || "error")); } else { resolve(answer); }
      }
      function done() { clearTimeout(timer); window.removeEventListener("message", listener); }
      window.addEventListener("message", listener);
      fields.subject = subject;
      fields.message_id = id;
      frame.postMessage(fields, data.origin);
    });
  }

  function unavailable() {
    document.getElementById("working").hidden = true;
    document.getElementById("unavailable").hidden = false;
  }

  var stateKey = "state_" + data.state;
  var nonceKey = "nonce_" + data.nonce;
  if (data.mode === "put") {
    Promise.all([call("lti.put_data", {key: stateKey, value: data.state}),
                 call("lti.put_data", {key: nonceKey, value: data.nonce})])
      .then(function () { window.location.assign(data.nextUrl); }, unavailable);
  } else {
    Promise.all([call("lti.get_data", {key: stateKey}), call("lti.get_data", {key: nonceKey})])
      .then(function (answers) {
        if (answers[0].value === data.state && answers[1].value === data.nonce) {
          document.getElementById("again").submit();
        } else {
          unavailable();
        }
      }, unavailable);
  }
}());

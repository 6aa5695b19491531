// Posts a form marked data-autosubmit at once (the signed LTI message back to the platform).
document.querySelectorAll("form[data-autosubmit]").forEach(function (form) { form.submit(); });

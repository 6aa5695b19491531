// Webcam helpers shared by the try page and the exam page: start the camera, explain failures, grab a frame.
window.EngagementCamera = (function () {
  "use strict";

  function show(el, text) { el.textContent = text; el.hidden = !text; }

  // What went wrong, as a code the exam page reports to the server, and what the person should do about it.
  function problemOf(err) {
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") { return "denied"; }
    if (name === "NotFoundError" || name === "OverconstrainedError") { return "missing"; }
    if (name === "NotReadableError") { return "in_use"; }
    return "error";
  }
  const ADVICE = {
    denied: "Camera access was denied. Allow the camera for this site in your browser settings, then reload.",
    missing: "No camera was found. Connect a webcam and reload the page.",
    in_use: "The camera is in use by another application. Close it and reload.",
    unsupported: "This browser cannot use a camera here (it needs HTTPS or localhost).",
    stopped: "Your camera stopped. Check that it is connected, then reload the page.",
  };

  function explain(problem, err) {
    return ADVICE[problem] || "The camera could not be started: " + (err && err.message ? err.message : err);
  }

  // Resolves true when the video plays; otherwise says why in messageEl, sets api.problem and resolves false.
  async function start(video, messageEl) {
    api.problem = null;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      api.problem = "unsupported";
      show(messageEl, ADVICE.unsupported);
      return false;
    }
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
      await video.play();
      show(messageEl, "");
      return true;
    } catch (err) {
      api.problem = problemOf(err);
      show(messageEl, explain(api.problem, err));
      return false;
    }
  }

  // The current video frame as a JPEG data URL, its sides times `scale` (default 1).
  function grab(video, canvas, quality, scale) {
    canvas.width = Math.round((video.videoWidth || 640) * (scale || 1));
    canvas.height = Math.round((video.videoHeight || 480) * (scale || 1));
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    return canvas.toDataURL("image/jpeg", quality);
  }

  const api = { show: show, start: start, grab: grab, advice: ADVICE, problem: null };
  return api;
})();

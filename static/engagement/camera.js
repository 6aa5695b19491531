// Webcam helpers shared by the try page and the exam page: start the camera, explain failures, grab a frame.
window.EngagementCamera = (function () {
  "use strict";

  function show(el, text) { el.textContent = text; el.hidden = !text; }

  function explain(err) {
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      return "Camera access was denied. Allow the camera for this site in your browser settings, then reload.";
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      return "No camera was found. Connect a webcam and reload the page.";
    }
    if (name === "NotReadableError") {
      return "The camera is in use by another application. Close it and reload.";
    }
    return "The camera could not be started: " + (err && err.message ? err.message : err);
  }

  // Resolves true when the video plays; otherwise says why in messageEl and resolves false.
  async function start(video, messageEl) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      show(messageEl, "This browser cannot use a camera here (it needs HTTPS or localhost).");
      return false;
    }
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
      await video.play();
      show(messageEl, "");
      return true;
    } catch (err) {
      show(messageEl, explain(err));
      return false;
    }
  }

  // The current video frame as a JPEG data URL.
  function grab(video, canvas, quality) {
    canvas.width = video.videoWidth || 640;
    canvas.height = video.videoHeight || 480;
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    return canvas.toDataURL("image/jpeg", quality);
  }

  return { show: show, start: start, grab: grab };
})();

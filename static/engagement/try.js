// The try page: webcam -> JPEG data URL -> POST /analyze-mood -> bars, score, status, advice.
(function () {
  "use strict";
  const root = document.getElementById("try");
  const video = document.getElementById("video");
  const canvas = document.getElementById("canvas");
  const captureButton = document.getElementById("capture");
  const auto = document.getElementById("auto");
  const interval = document.getElementById("interval");
  const cameraMessage = document.getElementById("camera-message");
  const errorBox = document.getElementById("error");
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
  const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
  let timer = null;
  let busy = false;

  function show(el, text) { el.textContent = text; el.hidden = !text; }

  function cameraError(err) {
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

  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      show(cameraMessage, "This browser cannot use a camera here (it needs HTTPS or localhost).");
      return;
    }
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
      await video.play();
      captureButton.disabled = false;
      show(cameraMessage, "");
    } catch (err) {
      show(cameraMessage, cameraError(err));
    }
  }

  function grab() {
    canvas.width = video.videoWidth || 640;
    canvas.height = video.videoHeight || 480;
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    return canvas.toDataURL("image/jpeg", 0.85);
  }

  // A frame that could not be analysed must not leave the previous frame's score and advice on screen.
  function clearResult() {
    ["score", "dominant", "age", "gender"].forEach(function (id) { document.getElementById(id).textContent = "-"; });
    document.getElementById("emotions").replaceChildren();
    document.getElementById("recommendations").replaceChildren();
  }

  function render(result) {
    const status = document.getElementById("status");
    if (!result.success) {
      clearResult();
      show(errorBox, result.message || result.error);
      status.className = "status status-none";
      status.textContent = result.error === "no_face" ? "No face in view" : (result.error || "Error");
      return;
    }
    show(errorBox, "");
    status.className = "status status-" + result.engagement_status;
    status.textContent = result.engagement_status.replace(/_/g, " ");
    document.getElementById("score").textContent = result.engagement_score.toFixed(1);
    document.getElementById("dominant").textContent = result.dominant_emotion;
    document.getElementById("age").textContent = result.age == null ? "-" : result.age;
    document.getElementById("gender").textContent = result.gender || "-";
    const bars = document.getElementById("emotions");
    bars.replaceChildren(...EMOTIONS.map(function (name) {
      const value = result.emotions[name];
      const row = document.createElement("div");
      row.className = "bar";
      row.dataset.emotion = name;
      const label = document.createElement("span");
      label.textContent = name;
      const track = document.createElement("span");
      track.className = "track";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.display = "block";
      fill.style.width = value + "%";
      track.appendChild(fill);
      const pct = document.createElement("span");
      pct.textContent = value.toFixed(1) + "%";
      row.append(label, track, pct);
      return row;
    }));
    const list = document.getElementById("recommendations");
    list.replaceChildren(...result.recommendations.map(function (text) {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }));
  }

  async function analyse() {
    if (busy || !video.srcObject) { return; }
    busy = true;
    try {
      const response = await fetch(root.dataset.endpoint, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify({ image: grab(), timestamp: new Date().toISOString() }),
      });
      let body;
      try { body = await response.json(); } catch (e) { body = { success: false, message: "The server answered " + response.status + "." }; }
      render(body);
    } catch (err) {
      render({ success: false, message: "The server is unreachable. Check your connection; the page will keep trying." });
    } finally {
      busy = false;
    }
  }

  function schedule() {
    clearInterval(timer);
    timer = null;
    if (auto.checked) {
      const seconds = Math.min(60, Math.max(1, Number(interval.value) || 3));
      timer = setInterval(analyse, seconds * 1000);
    }
  }

  captureButton.addEventListener("click", analyse);
  auto.addEventListener("change", schedule);
  interval.addEventListener("change", schedule);
  startCamera();
})();

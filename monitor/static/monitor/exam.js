// The exam page: webcam frames every frame-interval seconds over the session's WebSocket; live feedback.
(function () {
  "use strict";
  const root = document.getElementById("exam");
  const video = document.getElementById("video");
  const canvas = document.getElementById("canvas");
  const connection = document.getElementById("connection");
  const cameraMessage = document.getElementById("camera-message");
  const errorBox = document.getElementById("error");
  const intervalMs = Math.max(500, Number(root.dataset.interval) * 1000);
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + root.dataset.wsPath;
  let socket = null;
  let retries = 0;
  let ended = false;
  let timer = null;

  const adviceBox = document.getElementById("advice");
  const camera = window.EngagementCamera;
  const show = camera.show;
  // What the learner reads: what the camera sees and what to do, never the analysis itself unless shown.
  const LEARNER_TEXT = {
    no_face: "We cannot see you: please return to the camera.",
    face_too_small: "You are far from the camera: please come closer.",
  };
  const showAnalysis = !!document.getElementById("score");
  let firstSent = false;

  // "ok" or what is wrong with the camera: told to the server now and again on every (re)connection, so that
  // the instructor sees a blocked camera as such, not as a silent learner.
  let cameraState = null;
  function reportCamera(state) {
    cameraState = state;
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify({ type: "camera", state: state })); }
  }

  async function startCamera() {
    if (await camera.start(video, cameraMessage)) {
      reportCamera("ok");
      video.srcObject.getVideoTracks().forEach(function (track) {
        track.addEventListener("ended", function () {  // unplugged, or the permission taken back
          if (ended) { return; }
          clearInterval(timer);  // the video keeps its last picture: frames from it would read as presence
          reportCamera("stopped");
          show(cameraMessage, camera.advice.stopped);
          const status = document.getElementById("status");
          status.className = "status status-none";
          status.textContent = "The camera is not available";
        });
      });
      timer = setInterval(sendFrame, intervalMs);
      // The first frame goes as soon as the camera gives a picture, not one interval later.
      if (video.readyState >= 2) { sendFrame(); } else { video.addEventListener("loadeddata", sendFrame, { once: true }); }
    } else {
      reportCamera(camera.problem || "error");
      document.getElementById("status").textContent = "The camera is not available";
    }
  }

  function stopCamera() {
    clearInterval(timer);
    if (video.srcObject) {
      video.srcObject.getTracks().forEach(function (track) { track.stop(); });
      video.srcObject = null;
    }
  }

  // A large face is seen as well in a smaller frame, which costs the server less to decode and analyse: after a
  // face wider than LARGE_FACE pixels of a 640-pixel-wide frame, frames go at 3/4 of the camera's size (480x360
  // from 640x480, where that face is still over 110 px); any other answer brings the full size back, so a small
  // face (60 px at 640x480) is always sent at full size.
  const LARGE_FACE = 150;
  const SMALL_SCALE = 0.75;
  let frameScale = 1;
  function frameSize(msg) {
    const faceAt640 = msg.success && msg.region ? msg.region.w / (canvas.width || 640) * 640 : 0;
    frameScale = faceAt640 > LARGE_FACE ? SMALL_SCALE : 1;
  }

  // Frames the server could not analyse in a row (dropped, or a service error): past a few, the page says that
  // the service is catching up and spaces its frames out (doubling, at most 10 s: longer would keep the learner
  // unanalysed well after a short outage) until an analysis comes back.
  const TROUBLE_CODES = ["service_unavailable", "engine_unavailable", "server_error"];
  const CATCHING_UP_AFTER = 3;
  const CATCHING_UP_MAX_MS = 10000;
  let troubles = 0;
  let quietUntil = 0;
  function trouble() {
    troubles += 1;
    if (troubles >= CATCHING_UP_AFTER) {
      const status = document.getElementById("status");
      status.className = "status status-none";
      status.dataset.catchingUp = "1";
      status.textContent = "The service is catching up: your camera stays on and pictures are sent again shortly.";
      quietUntil = Date.now() + Math.min(CATCHING_UP_MAX_MS, intervalMs * Math.pow(2, troubles - CATCHING_UP_AFTER));
    }
  }

  function sendFrame() {
    if (!socket || socket.readyState !== WebSocket.OPEN || !video.videoWidth || ended) { return; }
    if (Date.now() < quietUntil) { return; }
    firstSent = true;
    socket.send(JSON.stringify({ type: "frame", image: camera.grab(video, canvas, 0.8, frameScale),
                                 timestamp: new Date().toISOString() }));
  }

  // The open alerts by id: each analysis sends them all; presence alerts also arrive one by one.
  let openAlerts = new Map();
  function alertEvent(msg) {
    if (msg.event === "closed") { openAlerts.delete(msg.alert.id); } else { openAlerts.set(msg.alert.id, msg.alert); }
    renderAlerts(Array.from(openAlerts.values()));
  }

  function renderAlerts(alerts) {
    openAlerts = new Map(alerts.map(function (a) { return [a.id, a]; }));
    const list = document.getElementById("alerts");
    if (!alerts.length) {
      const li = document.createElement("li");
      li.className = "none";
      li.textContent = "None";
      list.replaceChildren(li);
      return;
    }
    list.replaceChildren(...alerts.map(function (a) {
      const li = document.createElement("li");
      li.className = "alert-" + a.severity;
      li.dataset.kind = a.kind;
      li.textContent = a.message;
      return li;
    }));
  }

  function renderAnalysis(msg) {
    const status = document.getElementById("status");
    troubles = 0;
    quietUntil = 0;
    delete status.dataset.catchingUp;
    frameSize(msg);
    const lookingAway = msg.success && msg.looking_away;
    if (msg.success && msg.face_count > 1) {
      // Never green while someone else is in view: the learner must see what the instructor will see.
      show(errorBox, "");
      status.className = "status status-warning";
      status.textContent = msg.face_count + " faces in view: only you should be in view of the camera.";
      show(adviceBox, "");
    } else if (msg.success) {
      show(errorBox, "");
      status.className = "status " + (showAnalysis ? "status-" + msg.engagement_status : "status-ok");
      status.textContent = showAnalysis ? msg.engagement_status.replace(/_/g, " ") : "Camera OK: face in view";
      show(adviceBox, lookingAway ? "Please face your screen." : "");
    } else {
      status.className = "status status-none";
      status.textContent = LEARNER_TEXT[msg.error] || "The last picture could not be analysed";
      show(adviceBox, "");
      show(errorBox, LEARNER_TEXT[msg.error] ? "" : msg.message);
    }
    if (showAnalysis) {
      document.getElementById("score").textContent = msg.success ? msg.engagement_score.toFixed(1) : "-";
      document.getElementById("dominant").textContent = msg.success ? msg.dominant_emotion : "-";
      document.getElementById("recommendations").replaceChildren(...(msg.success ? msg.recommendations : []).map(
        function (t) { const li = document.createElement("li"); li.textContent = t; return li; }));
      // No face analysed: the smoothed score of earlier frames says nothing about now.
      document.getElementById("smoothed").textContent =
        !msg.success || msg.smoothed_score == null ? "-" : msg.smoothed_score.toFixed(1);
    }
    renderAlerts(msg.alerts || []);
  }

  function endExam() {
    ended = true;
    stopCamera();
    connection.textContent = "the exam has ended";
    document.getElementById("ended-banner").hidden = false;
    const status = document.getElementById("status");
    status.className = "status status-none";
    status.textContent = "Exam ended";
  }

  // A ping keeps the socket counted and the page taken as present while no frame goes out (a blocked camera).
  const PING_MS = 30000;
  setInterval(function () {
    if (socket && socket.readyState === WebSocket.OPEN && !ended) { socket.send(JSON.stringify({type: "ping"})); }
  }, PING_MS);

  // When the connection to the server was lost (null while it is up): said on the page until it is back.
  const outage = document.getElementById("outage");
  let lostAt = null;
  const clock = window.EngagementTime.clock;
  function connectionLost() {
    if (lostAt === null) { lostAt = new Date(); }
    outage.className = "banner banner-down";
    outage.textContent = "The connection to the server was lost at " + clock(lostAt) + ". Keep this page open: " +
      "it reconnects by itself, and your exam goes on.";
    outage.hidden = false;
    // Nothing is analysed meanwhile: the last "Camera OK" would be a claim the server cannot back.
    const status = document.getElementById("status");
    status.className = "status status-none";
    status.textContent = "Waiting for the server...";
  }
  function connectionBack() {
    if (lostAt === null) { return; }
    const seconds = Math.round((Date.now() - lostAt.getTime()) / 1000);
    outage.className = "banner banner-up";
    outage.textContent = "The connection is back since " + clock(new Date()) + " (lost for " + seconds + " s).";
    lostAt = null;
    const status = document.getElementById("status");
    // Until the next analysis: what the page knows of its camera, not the server's silence.
    status.textContent = cameraState && cameraState !== "ok" ? "The camera is not available" : "Checking your camera...";
  }

  function connect() {
    socket = new WebSocket(url);
    socket.onopen = function () {
      retries = 0;
      connection.textContent = "connected";
      const wasLost = lostAt !== null;
      connectionBack();
      if (cameraState) { reportCamera(cameraState); }
      if (!firstSent || wasLost) { sendFrame(); }  // the status is current again at once, not one interval later
    };
    socket.onmessage = function (event) {
      const msg = JSON.parse(event.data);
      if (msg.type === "analysis") { renderAnalysis(msg); }
      else if (msg.type === "alert") { alertEvent(msg); }
      else if (msg.type === "dropped") { trouble(); }
      else if (msg.type === "error") {
        if (TROUBLE_CODES.indexOf(msg.error) >= 0) { trouble(); } else { show(errorBox, msg.message); }
      }
      else if (msg.type === "ended") { endExam(); }
    };
    socket.onclose = function (event) {
      if (ended || event.code === 4000) { endExam(); return; }
      if (event.code === 4403) {
        connection.textContent = "refused: this session is not yours or has ended";
        return;
      }
      // Exponential backoff with jitter, capped at 30 s.
      const delay = Math.min(30000, 1000 * Math.pow(2, retries)) * (0.5 + Math.random() / 2);
      retries += 1;
      connectionLost();
      connection.textContent = "the server is unreachable; reconnecting in " + Math.round(delay / 1000) + " s";
      setTimeout(connect, delay);
    };
  }

  function begin() {
    document.getElementById("notice").hidden = true;
    root.hidden = false;
    connect();
    startCamera();
  }
  document.getElementById("start").addEventListener("click", begin);
  // The learner already agreed to the notice on the page that opened this one (LTI's proctoring check).
  if (root.dataset.consented) { begin(); }
})();

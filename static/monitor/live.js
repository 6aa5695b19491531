// Instructors' live view: one row per session, kept current over the instructors' WebSocket.
(function () {
  "use strict";
  const body = document.querySelector("#sessions tbody");
  const connection = document.getElementById("connection");
  const empty = document.getElementById("empty");
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/monitor/instructors/";
  let retries = 0;

  // Human words for the codes the server sends.
  const STATUS = {
    highly_engaged: "Highly engaged", engaged: "Engaged", neutral: "Neutral", partially_engaged: "Partly engaged",
    confused: "Confused", distracted: "Distracted", frustrated: "Frustrated", bored: "Bored",
    no_face: "No face in view", face_too_small: "Too far from the camera",
  };
  const SESSION = { scheduled: "Not started", active: "Running", ended: "Ended" };
  const KIND = { absent: "Absent", multiple_faces: "Several faces", low_engagement: "Low engagement",
                 struggling: "Struggling", looking_away: "Looking away", camera_blocked: "Camera blocked",
                 disconnected: "Disconnected" };
  const PRESENCE = { waiting: "Not connected yet", connected: "Connected", camera_blocked: "Camera blocked",
                     disconnected: "Disconnected" };
  const NOT_ANALYSED = ["no_face", "face_too_small"];

  function cell(content, cls) {
    const td = document.createElement("td");
    if (content instanceof Node) { td.appendChild(content); }
    else { td.textContent = content == null || content === "" ? "-" : content; }
    if (cls) { td.className = cls; }
    return td;
  }

  function link(text, href) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  function since(iso) {  // "m:ss" (or "h:mm:ss") since an ISO time
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    const h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
    const pad = function (n) { return String(n).padStart(2, "0"); };
    return (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s);
  }

  // A span whose text is the time since `iso`, kept current by tick().
  function ticking(iso, cls, suffix) {
    const span = document.createElement("span");
    span.className = "ticking " + cls;
    span.dataset.since = iso;
    span.dataset.suffix = suffix || "";
    span.textContent = since(iso) + span.dataset.suffix;
    return span;
  }

  function tick() {
    if (lostAt !== null) { return; }  // frozen: what they count may have changed meanwhile
    document.querySelectorAll("span.ticking[data-since]").forEach(function (span) {
      span.textContent = since(span.dataset.since) + span.dataset.suffix;
    });
  }

  // While this page's own socket is down it hears nothing: no row's presence can be vouched for.
  let lostAt = null;
  const rows = new Map();  // session id -> its last row data, to draw the rows again when the socket goes or comes
  const outage = document.getElementById("outage");
  const clock = window.EngagementTime.clock;

  // Whether the learner's page is there: connected, camera blocked, disconnected (and since when), or ended.
  function presence(s) {
    const span = document.createElement("span");
    if (s.status === "ended") { span.textContent = "Session ended"; return span; }
    if (lostAt !== null) {
      span.className = "presence presence-unknown";
      span.dataset.connection = "unknown";
      span.textContent = "Unknown: this page is offline";
      return span;
    }
    span.className = "presence presence-" + s.connection;
    span.dataset.connection = s.connection;
    span.append((PRESENCE[s.connection] || s.connection) + " ");
    if (s.connection !== "waiting" && s.connection_changed_at) {
      span.appendChild(ticking(s.connection_changed_at, "presence-for"));
    }
    if (s.rejoins) {  // the page was lost and came back: a reload, a reconnection or a new browser
      const back = document.createElement("span");
      back.className = "rejoined";
      back.append(" Rejoined " + s.rejoins + "\u00d7 (");
      back.appendChild(ticking(s.rejoined_at, "rejoined-for", " ago)"));
      span.appendChild(back);
    }
    return span;
  }

  const onlyCourse = document.getElementById("sessions").dataset.course;

  function render(s) {
    if (onlyCourse && s.course_id !== onlyCourse) { return; }  // the page shows one course
    rows.set(s.id, s);
    let row = body.querySelector('tr[data-session="' + s.id + '"]');
    if (!row) {
      row = document.createElement("tr");
      row.dataset.session = s.id;
      body.appendChild(row);
    }
    const report = "/admin/monitor/examsession/" + s.id + "/change/";
    const alerts = document.createElement("span");
    s.alerts.forEach(function (a) {
      const span = document.createElement("span");
      span.className = "alert alert-" + a.severity;
      span.dataset.kind = a.kind;
      span.dataset.opened = a.opened_at;
      span.title = a.message;
      span.append((KIND[a.kind] || a.kind) + " ");
      span.appendChild(ticking(a.opened_at, "open-for"));
      alerts.appendChild(span);
    });
    if (s.alerts.length) {
      alerts.appendChild(link("review", "/admin/monitor/alert/?session__id__exact=" + s.id));
    } else { alerts.textContent = "-"; }
    const analysed = s.engagement_status && NOT_ANALYSED.indexOf(s.engagement_status) < 0;
    // The last status describes the learner now only while their page is there with a camera.
    const here = s.status !== "ended" && s.connection === "connected" && lostAt === null;
    const status = cell(here ? STATUS[s.engagement_status] || s.engagement_status : null, "status-cell");
    if (here && s.engagement_status) { status.dataset.status = s.engagement_status; }
    row.className = (s.alerts.length ? "has-alerts" : "") +
      (s.alerts.some(function (a) { return a.severity === "critical"; }) ? " has-critical" : "") +
      (s.status === "ended" ? " ended" : "") +
      (s.status !== "ended" && (s.connection === "camera_blocked" || s.connection === "disconnected") ? " absent" : "") +
      (lostAt !== null && s.status !== "ended" ? " unknown" : "");
    const present = s.status !== "ended" && lostAt === null &&
      (s.connection === "connected" || s.connection === "camera_blocked");
    // While no face is analysed, or the page is gone, an older score would read as engagement now: show "-".
    const current = analysed && here;
    row.replaceChildren(cell(link(s.learner_name || s.learner, report)), cell(s.course_id + " / " + s.exam_id, "wide"),
      cell(SESSION[s.status] || s.status, "wide"), cell(presence(s), "presence-cell"),
      status, cell(current ? s.dominant_emotion : null, "wide"),
      cell(current && s.smoothed_score != null ? s.smoothed_score.toFixed(1) : null, "score-cell"),
      cell(s.frames, "wide frames-cell"),
      cell(present && s.last_frame_at ? ticking(s.last_frame_at, "last-frame", " ago") : null, "wide last-frame-cell"),
      cell(alerts, "alerts-cell"));
    empty.hidden = body.children.length > 0;
  }

  function connectionLost() {
    if (lostAt === null) {
      lostAt = new Date();
      rows.forEach(render);
    }
    outage.className = "banner banner-down";
    outage.textContent = "Live updates stopped at " + clock(lostAt) + ": the connection to the server is lost. " +
      "Presence is unknown and timers are stopped until it is back.";
    outage.hidden = false;
  }

  // The server's list of live sessions, as it is now (at first and after a reconnection).
  function snapshot(sessions) {
    const back = lostAt !== null;
    lostAt = null;
    const live = new Set(sessions.map(function (s) { return s.id; }));
    rows.forEach(function (s, id) {  // ended or unassigned while this page was offline: no longer live
      if (!live.has(id) && s.status !== "ended") {
        rows.delete(id);
        const row = body.querySelector('tr[data-session="' + id + '"]');
        if (row) { row.remove(); }
      }
    });
    rows.forEach(function (s, id) { if (!live.has(id)) { render(s); } });
    sessions.forEach(render);
    empty.hidden = body.children.length > 0;
    if (back) {
      outage.className = "banner banner-up";
      outage.textContent = "Live updates are back since " + clock(new Date()) + ".";
    }
  }

  function connect() {
    const socket = new WebSocket(url);
    socket.onopen = function () { retries = 0; connection.textContent = "live"; };
    socket.onmessage = function (event) {
      const msg = JSON.parse(event.data);
      if (msg.type === "sessions") { snapshot(msg.sessions); }
      if (msg.type === "session") { render(msg.session); }
    };
    socket.onclose = function (event) {
      if (event.code === 4403) { connection.textContent = "refused: instructors only"; return; }
      const delay = Math.min(30000, 1000 * Math.pow(2, retries));
      retries += 1;
      connectionLost();
      connection.textContent = "disconnected; reconnecting in " + Math.round(delay / 1000) + " s";
      setTimeout(connect, delay);
    };
  }

  JSON.parse(document.getElementById("initial-sessions").textContent).forEach(render);
  empty.hidden = body.children.length > 0;
  setInterval(tick, 1000);
  connect();
})();

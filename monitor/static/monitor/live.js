// Instructors' live view: one row per session, kept current over the instructors' WebSocket.
(function () {
  "use strict";
  const body = document.querySelector("#sessions tbody");
  const connection = document.getElementById("connection");
  const empty = document.getElementById("empty");
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/monitor/instructors/";
  let retries = 0;

  // Human words for the codes the server sends, rendered into the page from the server's enums.
  const LABELS = JSON.parse(document.getElementById("live-labels").textContent);
  const STATUS = LABELS.status, SESSION = LABELS.session, KIND = LABELS.kind, PRESENCE = LABELS.presence;
  const NOT_ANALYSED = LABELS.not_analysed;

  function cell(content, cls) {
    const td = document.createElement("td");
    if (content instanceof Node) { td.appendChild(content); }
    else { td.textContent = content == null || content === "" ? "-" : content; }
    if (cls) { td.className = cls; }
    return td;
  }

  function link(text, href, beside) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    if (beside) {  // reports and reviews open in one window of their own, beside the live view, never over it
      a.target = "engagement-review";
      a.rel = "noopener";
    }
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
  // Sessions whose frames go unanalysed (dropped or failing in a row): id -> {since, frames}. Their last status,
  // emotion and score are not current: shown as unknown until a row with a newer analysed frame comes.
  const behind = new Map();
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
    const known = rows.get(s.id);
    // Rows come by several paths (a server's batch of frames' rows, presence changes at once): an older one that
    // arrives late must not undo a newer one.
    if (known && known.as_of && s.as_of && Date.parse(s.as_of) < Date.parse(known.as_of)) { return; }
    if (known && known.status === "ended" && s.status !== "ended") { return; }  // an end is final, whatever the clocks
    rows.set(s.id, s);
    if (s.analysis_behind_since && !behind.has(s.id)) {  // the server's list says so (at load, after a reconnection)
      behind.set(s.id, { since: s.analysis_behind_since, frames: s.frames });
    }
    const lag = behind.get(s.id);
    if (lag && (s.frames > lag.frames || s.status === "ended")) { behind.delete(s.id); }
    const unanalysed = behind.has(s.id) && s.status !== "ended";
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
      // Counted from when the learner left (or the condition began), not from when the rule's delay ran out.
      span.appendChild(ticking(a.since || a.opened_at, "open-for"));
      // A critical alert links to where the attempt is paused or ended on its platform (when it allows that).
      if (a.severity === "critical" && s.control_url && s.status !== "ended") {
        const act = link("pause or end", s.control_url, true);
        act.className = "alert-control";
        span.append(" ", act);
      }
      alerts.appendChild(span);
    });
    if (s.alerts.length) {
      alerts.appendChild(link("review", "/admin/monitor/alert/?session__id__exact=" + s.id, true));
    } else { alerts.textContent = "-"; }
    const analysed = s.engagement_status && NOT_ANALYSED.indexOf(s.engagement_status) < 0;
    // The last status describes the learner now only while their page is there with a camera.
    const here = s.status !== "ended" && s.connection === "connected" && lostAt === null;
    let status;
    if (here && unanalysed) {
      const words = document.createElement("span");
      words.className = "analysis-behind";
      words.append("Unknown: frames not analysed for ");
      words.appendChild(ticking(behind.get(s.id).since, "behind-for"));
      status = cell(words, "status-cell");
      status.dataset.status = "unknown";
    } else {
      status = cell(here ? STATUS[s.engagement_status] || s.engagement_status : null, "status-cell");
      if (here && s.engagement_status) { status.dataset.status = s.engagement_status; }
    }
    row.className = (s.alerts.length ? "has-alerts" : "") +
      (s.alerts.some(function (a) { return a.severity === "critical"; }) ? " has-critical" : "") +
      (s.status === "ended" ? " ended" : "") +
      (s.status !== "ended" && (s.connection === "camera_blocked" || s.connection === "disconnected") ? " absent" : "") +
      ((lostAt !== null || unanalysed) && s.status !== "ended" ? " unknown" : "");
    const present = s.status !== "ended" && lostAt === null &&
      (s.connection === "connected" || s.connection === "camera_blocked");
    // While no face is analysed, or the page is gone, an older score would read as engagement now: show "-".
    const current = analysed && here && !unanalysed;
    const learner = cell(link(s.learner_name || s.learner, report, true));
    // Only the session's watchers get its row, and they all may control it (monitor's user_can_control).
    if (s.control_url && s.status !== "ended") {
      const control = link("Pause or end attempt", s.control_url, true);
      control.className = "control-link";
      learner.append(" ", control);
    }
    const cells = [learner, cell(s.course_id + " / " + s.exam_id, "wide"),
      cell(SESSION[s.status] || s.status, "wide session-cell"), cell(presence(s), "presence-cell"),
      status, cell(current ? s.dominant_emotion : null, "wide"),
      cell(current && s.smoothed_score != null ? s.smoothed_score.toFixed(1) : null, "wide score-cell"),
      cell(s.frames, "wide frames-cell"),
      cell(present && s.last_frame_at ? ticking(s.last_frame_at, "last-frame", " ago") : null, "wide last-frame-cell"),
      cell(alerts, "alerts-cell")];
    // A cell whose content is unchanged stays as it is: a click on its link (the report, "Pause or end attempt")
    // that an update replaced between the button's press and its release would be lost.
    cells.forEach(function (c, i) {
      const old = row.children[i];
      if (!old) { row.appendChild(c); } else if (!old.isEqualNode(c)) { row.replaceChild(c, old); }
    });
    while (row.children.length > cells.length) { row.lastElementChild.remove(); }
    empty.hidden = body.children.length > 0;
    announce(s);
  }

  // Triage: the rows that need an instructor first. Most severe open alert, then the oldest of those alerts
  // (waiting longest), then the rest in the order the sessions were created; ended rows last.
  const RANK = { critical: 3, warning: 2, info: 1 };
  function urgency(s) {
    if (s.status === "ended" || !s.alerts.length) { return { rank: 0, since: Infinity }; }
    const rank = Math.max.apply(null, s.alerts.map(function (a) { return RANK[a.severity] || 0; }));
    const since = Math.min.apply(null, s.alerts.filter(function (a) { return (RANK[a.severity] || 0) === rank; })
      .map(function (a) { return Date.parse(a.opened_at); }));
    return { rank: rank, since: since };
  }
  function order() {
    const sorted = Array.from(rows.values()).sort(function (a, b) {
      const ua = urgency(a), ub = urgency(b);
      return (a.status === "ended") - (b.status === "ended") || ub.rank - ua.rank || ua.since - ub.since ||
        Date.parse(a.created_at || 0) - Date.parse(b.created_at || 0);
    });
    sorted.forEach(function (s, i) {
      const row = body.querySelector('tr[data-session="' + s.id + '"]');
      if (row && body.children[i] !== row) { body.insertBefore(row, body.children[i] || null); }
    });
    counts();
  }

  // The open alerts by kind above the table, and their number in the page's title (seen from another tab).
  const countsBox = document.getElementById("alert-counts");
  const baseTitle = document.title;
  function counts() {
    const byKind = new Map();
    let total = 0;
    rows.forEach(function (s) {
      if (s.status === "ended") { return; }
      s.alerts.forEach(function (a) {
        const entry = byKind.get(a.kind) || { severity: a.severity, n: 0 };
        entry.n += 1;
        byKind.set(a.kind, entry);
        total += 1;
      });
    });
    document.title = (total ? "(" + total + ") " : "") + baseTitle;
    if (!total) {
      countsBox.textContent = "No open alerts.";
      return;
    }
    const items = Array.from(byKind.entries()).sort(function (a, b) {
      return (RANK[b[1].severity] || 0) - (RANK[a[1].severity] || 0) || b[1].n - a[1].n;
    }).map(function (entry) {
      const span = document.createElement("span");
      span.className = "alert alert-" + entry[1].severity;
      span.dataset.kind = entry[0];
      span.textContent = (KIND[entry[0]] || entry[0]) + ": " + entry[1].n;
      return span;
    });
    countsBox.replaceChildren("Open alerts: ", ...items);
  }

  // New alerts are read out by screen readers (an aria-live region); those already open at load are not news.
  const announcer = document.getElementById("announce");
  const seen = new Set();
  let announcing = false;
  function announce(s) {
    const fresh = s.alerts.filter(function (a) { return !seen.has(a.id); });
    fresh.forEach(function (a) { seen.add(a.id); });
    if (!announcing || !fresh.length || s.status === "ended") { return; }
    const line = document.createElement("p");
    line.textContent = "New alert: " + (s.learner_name || s.learner) + ", " +
      fresh.map(function (a) { return (KIND[a.kind] || a.kind) + " (" + a.severity + ")"; }).join(", ") +
      ", at " + clock(fresh[0].opened_at) + ".";
    announcer.appendChild(line);
    while (announcer.children.length > 5) { announcer.removeChild(announcer.firstChild); }
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
      if (msg.type === "behind" && rows.has(msg.session_id) && !behind.has(msg.session_id)) {
        behind.set(msg.session_id, { since: msg.since, frames: rows.get(msg.session_id).frames });
        render(rows.get(msg.session_id));
      }
      order();
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
  order();
  announcing = true;
  empty.hidden = body.children.length > 0;
  setInterval(tick, 1000);
  connect();
})();

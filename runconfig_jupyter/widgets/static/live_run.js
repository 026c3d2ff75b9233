// The live part of RunDetails: status line, Cancel, the exception of a failed run, and the log.
//
// Why a custom view: replacing an ipywidgets HTML's value rebuilds its DOM and resets the scroll to the
// top on every redraw. Here lines are only ever appended at the end (and trimmed at the top past
// max_lines), so the log can follow its end while the reader has not scrolled up, and keep the reader's
// place when they have. Lines arrive as custom messages {kind: "lines", start, lines, partial} with
// absolute line numbers; a new view asks the kernel for the current window ({kind: "sync"}) and falls
// back to the saved `lines` snapshot when no kernel answers (a reopened notebook).
// A view that hears nothing from the kernel for 5 heartbeats while the run is not over says it is stale.

const FOLLOW_SLACK_PX = 8;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function render({ model, el: root }) {
  root.classList.add("runconfig-live");
  const bar = el("div", "runconfig-statusbar");
  const status = el("span", "runconfig-status");
  status.setAttribute("role", "status");
  const elapsed = el("span", "runconfig-elapsed");
  elapsed.title = "time since the script started (or since submission until it starts)";
  const detail = el("span", "runconfig-detail");
  const cancel = el("button", "runconfig-cancel jupyter-button", "Cancel");
  cancel.type = "button";
  bar.append(status, elapsed, detail, cancel);

  const stale = el("div", "runconfig-stale");
  stale.setAttribute("role", "alert");
  stale.hidden = true;

  const error = el("pre", "runconfig-error-text");
  error.setAttribute("aria-label", "The exception that ended the run");
  error.tabIndex = 0;
  error.hidden = true;

  const frame = el("div", "runconfig-log-frame");
  const note = el("div", "runconfig-log-note");
  const log = el("div", "runconfig-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "off"); // a screen reader reads the log on demand, not every line
  log.setAttribute("aria-label", "Run log");
  log.tabIndex = 0; // scrollable with the keyboard
  const lines = el("div", "runconfig-log-lines");
  const partial = el("div", "runconfig-log-line runconfig-log-partial");
  const empty = el("div", "runconfig-log-empty", "(no output yet)");
  log.append(empty, lines, partial);
  const jump = el("button", "runconfig-jump jupyter-button", "Jump to end");
  jump.type = "button";
  jump.hidden = true;
  frame.append(log, jump);
  root.append(bar, stale, error, note, frame);

  let first = -1; // absolute number of the first line in the DOM
  let next = 0; // absolute number of the next line expected
  let following = true;
  let unseen = 0;
  let lastHeard = Date.now();

  const atEnd = () => log.scrollHeight - log.scrollTop - log.clientHeight <= FOLLOW_SLACK_PX;
  const toEnd = () => {
    log.scrollTop = log.scrollHeight;
    unseen = 0;
    drawJump();
  };
  const drawJump = () => {
    jump.hidden = following;
    jump.textContent = unseen > 0 ? `Jump to end (${unseen} new line${unseen === 1 ? "" : "s"})` : "Jump to end";
  };

  function trim() {
    const max = Math.max(10, model.get("max_lines") || 2000);
    let extra = lines.childElementCount - max;
    if (extra <= 0) return;
    const before = log.scrollHeight;
    while (extra-- > 0 && lines.firstChild) {
      lines.removeChild(lines.firstChild);
      first += 1;
    }
    if (!following) {
      // keep what the reader looks at where it is: the removed height was above it
      log.scrollTop = Math.max(0, log.scrollTop - (before - log.scrollHeight));
    }
  }

  function addLines(start, texts, partialText) {
    if (first < 0) first = start;
    if (start > next && next > 0) {
      const gap = el("div", "runconfig-log-gap", `[${start - next} lines not shown here: see Full log]`);
      lines.append(gap);
    }
    const skip = Math.max(0, next - start);
    const fragment = document.createDocumentFragment();
    let added = 0;
    for (let i = skip; i < texts.length; i++) {
      fragment.append(el("div", "runconfig-log-line", texts[i]));
      added += 1;
    }
    lines.append(fragment);
    next = Math.max(next, start + texts.length);
    if (partialText !== undefined) partial.textContent = partialText;
    empty.hidden = next > 0 || partial.textContent !== "";
    trim();
    if (following) toEnd();
    else if (added > 0) {
      unseen += added;
      drawJump();
    }
  }

  function drawStatus() {
    const value = model.get("status");
    const ended = model.get("ended");
    const isStale = !ended && Date.now() - lastHeard > 5000 * Math.max(0.2, model.get("heartbeat_seconds") || 1);
    status.dataset.status = value;
    status.textContent = model.get("status_label") || value;
    elapsed.textContent = model.get("elapsed");
    detail.textContent = model.get("detail");
    detail.title = model.get("detail");
    const requested = model.get("cancel_requested");
    cancel.disabled = ended || requested || !model.get("can_cancel") || isStale;
    cancel.textContent = requested ? "Canceling" : "Cancel";
    cancel.title = model.get("cancel_tooltip");
    cancel.style.visibility = ended || isStale ? "hidden" : "visible";
    cancel.setAttribute("aria-hidden", ended || isStale ? "true" : "false");
    root.dataset.stale = isStale ? "true" : "false";
    stale.hidden = !isStale;
    if (isStale && !stale.dataset.runId) {
      stale.dataset.runId = model.get("run_id");
      const code = el(
        "code",
        "runconfig-attach",
        `from runconfig_jupyter.widgets import RunDetails; RunDetails.attach("${model.get("run_id")}").show()`
      );
      stale.replaceChildren(
        "Not live: nothing heard from the kernel that follows this run (restarted or stopped?). " +
          "The run itself goes on. Re-attach in a cell: ",
        code
      );
    }
    const text = model.get("error_text");
    error.hidden = !text;
    error.textContent = text;
    note.textContent = model.get("note");
    note.hidden = !model.get("note");
  }

  const heard = () => {
    const wasStale = root.dataset.stale === "true";
    lastHeard = Date.now();
    if (wasStale) drawStatus();
  };
  const onMessage = (message) => {
    heard();
    if (message && message.kind === "lines") addLines(message.start, message.lines || [], message.partial);
  };
  const onChange = () => {
    heard();
    drawStatus();
  };
  const onScroll = () => {
    following = atEnd();
    if (following) unseen = 0;
    drawJump();
  };
  jump.addEventListener("click", () => {
    following = true;
    toEnd();
    log.focus();
  });
  cancel.addEventListener("click", () => {
    cancel.disabled = true;
    model.send({ kind: "cancel" });
  });
  log.addEventListener("scroll", onScroll);
  const resize = new ResizeObserver(() => {
    if (following) toEnd();
  });
  resize.observe(log);

  model.on("msg:custom", onMessage);
  model.on("change", onChange);
  const snapshot = model.get("lines") || [];
  if (snapshot.length) addLines(model.get("first_line"), snapshot, model.get("partial"));
  drawStatus();
  model.send({ kind: "sync" });
  const timer = setInterval(drawStatus, 1000);
  return () => {
    clearInterval(timer);
    resize.disconnect();
    model.off("msg:custom", onMessage);
    model.off("change", onChange);
  };
}

export default { render };

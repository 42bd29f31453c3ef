/*
 * Follows a connection test's Server-Sent Events (EventSource resumes after Last-Event-ID on its own) and
 * draws each step as it arrives. Every value is inserted as text: a vendor message is never treated as HTML.
 * Used by the live Test connection page and by "Test before saving" on the add and change pages.
 */
(function () {
  "use strict";
  const icons = {passed: "✓", failed: "✗", skipped: "–"};

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function addStep(list, step) {
    if (list.querySelector('li[data-step="' + CSS.escape(step.name) + '"]')) return;
    const item = el("li", "step step-" + step.status);
    item.dataset.step = step.name;
    item.dataset.status = step.status;
    item.append(el("span", "step-icon", icons[step.status] || "?"), el("strong", "step-name", step.name),
                el("span", "step-duration", step.duration_ms + " ms"), el("div", "step-message", step.message));
    if (step.error) {
      const error = el("div", "step-error", "Error ");
      error.append(el("code", "", step.error.code));
      if (step.error.remediation) error.append(": " + step.error.remediation);
      item.append(error);
    }
    list.append(item);
  }

  function follow(url, options) {
    const list = options.list, result = options.result;
    let finished = false;
    result.dataset.state = "running";
    result.textContent = "Running…";
    const source = new EventSource(url);
    source.addEventListener("step", function (event) { addStep(list, JSON.parse(event.data)); });
    source.addEventListener("done", function (event) {
      source.close();
      finished = true;
      const done = JSON.parse(event.data);
      (done.steps || []).forEach(function (step) { addStep(list, step); });
      result.dataset.state = done.success ? "passed" : "failed";
      result.textContent = (done.success ? "Passed" : "Failed") + " in " + done.duration_ms + " ms." +
                           (done.error ? " " + done.error : "") +
                           ((done.unproven || []).length ? " Not proven before the first sync: " +
                             done.unproven.map(function (u) { return u.privilege; }).join(", ") + "." : "");
      if (options.onDone) options.onDone(done);
    });
    source.onerror = function () {
      if (!finished) result.textContent = "Connection to the test lost; reconnecting…";
    };
    return source;
  }

  window.connectionTest = {follow: follow, addStep: addStep, el: el};
})();

/*
 * "Test before saving": posts the form as it is now (nothing is saved; blank secrets keep the stored ones),
 * then follows the run's steps live. Errors that stop the test are listed with the field they concern.
 */
(function () {
  "use strict";
  const button = document.getElementById("test-draft");
  if (!button) return;
  const url = JSON.parse(document.getElementById("draft-test-url").textContent);
  const list = document.getElementById("draft-steps");
  const result = document.getElementById("draft-result");
  const errors = document.getElementById("draft-errors");
  let source = null;

  button.addEventListener("click", async function () {
    const form = button.closest("form");
    const data = new FormData(form);
    if (source) source.close();
    list.replaceChildren();
    errors.replaceChildren();
    document.getElementById("draft-test").hidden = false;
    result.dataset.state = "running";
    result.textContent = "Starting…";
    button.disabled = true;
    try {
      const response = await fetch(url, {
        method: "POST", body: data, credentials: "same-origin",
        headers: {"X-CSRFToken": data.get("csrfmiddlewaretoken"), "Accept": "application/json"},
      });
      const body = await response.json();
      if (!response.ok) {
        result.dataset.state = "invalid";
        result.textContent = "Not tested: correct these first.";
        (body.errors || []).forEach(function (error) {
          const item = connectionTest.el("li", "", "");
          item.dataset.path = error.path;
          item.append(connectionTest.el("strong", "", error.field), ": " + error.message);
          errors.append(item);
        });
        return;
      }
      source = connectionTest.follow(body.events_url, {list: list, result: result});
    } catch (exc) {
      result.dataset.state = "failed";
      result.textContent = "The test could not be started.";
    } finally {
      button.disabled = false;
    }
  });
})();

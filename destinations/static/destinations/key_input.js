/*
 * django-jsonform asks for a new key (a webhook header's name) with the browser's native prompt() and reports
 * a bad one with alert(). This asks inline instead: the button that would have prompted opens a small input
 * beside it; on Add, the same button is clicked again with prompt() answering the typed name once, and any
 * alert() the editor raises (empty or duplicate name) is shown under the input.
 */
(function () {
  "use strict";
  const nativePrompt = window.prompt.bind(window);
  const nativeAlert = window.alert.bind(window);
  let lastButton = null;
  let answer = null; // the name typed inline, handed to the next prompt() only

  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest(".django-jsonform-container button");
    if (button) lastButton = button;
  }, true);

  function open(button, question) {
    const existing = button.parentNode.querySelector(".key-input");
    if (existing) { existing.querySelector("input").focus(); return; }
    const box = document.createElement("span");
    box.className = "key-input";
    const input = document.createElement("input");
    input.type = "text";
    input.placeholder = question;
    input.setAttribute("aria-label", question);
    input.autocomplete = "off";
    const ok = document.createElement("button");
    ok.type = "button";
    ok.className = "key-input-ok";
    ok.textContent = question.startsWith("Rename") ? "Rename" : "Add";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "key-input-cancel";
    cancel.textContent = "Cancel";
    const message = document.createElement("span");
    message.className = "key-input-error errornote";
    message.hidden = true;
    box.append(input, ok, cancel, message);
    button.after(box);
    input.focus();

    function submit() {
      message.hidden = true;
      answer = input.value;
      let complaint = null;
      window.alert = function (text) { complaint = String(text).trim(); };
      try {
        button.click();
      } finally {
        window.alert = nativeAlert;
        answer = null;
      }
      if (complaint) {
        message.textContent = complaint.replace(/^\(!\)\s*/, "");
        message.hidden = false;
        input.focus();
      } else {
        box.remove();
      }
    }
    ok.addEventListener("click", submit);
    cancel.addEventListener("click", function () { box.remove(); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); submit(); }
      if (event.key === "Escape") { event.preventDefault(); box.remove(); }
    });
  }

  window.prompt = function (question, value) {
    if (answer !== null) return answer;
    if (!lastButton) return nativePrompt(question, value);
    open(lastButton, String(question || "Name"));
    return null; // the editor does nothing on null; the inline input calls back
  };
})();

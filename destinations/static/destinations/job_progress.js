/* The bulk-test progress page (admin/destinations/testjob/progress.html): each running job's `result` events
 * add a row and update its counts, until `done`. Each job section holds its events URL in a JSON script. */
(function () {
  "use strict";
  function cell(text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text === null || text === undefined ? "" : String(text);
    return td;
  }
  document.querySelectorAll("section.job").forEach(function (section) {
    const script = document.getElementById(section.dataset.job);
    if (!script) return;
    const url = JSON.parse(script.textContent);
    const rows = section.querySelector("tbody.results");
    const bar = section.querySelector("progress");
    function counts(data) {
      ["done", "passed", "failed", "missing"].forEach(function (name) {
        section.querySelector(".count-" + name).textContent = String(data[name]);
      });
      bar.value = data.done;
    }
    const source = new EventSource(url);
    source.addEventListener("result", function (event) {
      const data = JSON.parse(event.data);
      const result = data.result;
      if (!rows.querySelector('tr[data-destination="' + CSS.escape(String(result.destination_id)) + '"]')) {
        const row = document.createElement("tr");
        row.dataset.destination = String(result.destination_id);
        row.append(cell(result.name), cell(result.destination_type), cell(result.state, "state-" + result.state),
                   cell(result.failed_step), cell(result.error_code), cell(result.message));
        rows.append(row);
      }
      counts(data);
    });
    source.addEventListener("done", function (event) {
      source.close();
      counts(JSON.parse(event.data));
      section.dataset.state = "done";
      section.querySelector(".job-state").textContent = "Finished.";
    });
  });
})();

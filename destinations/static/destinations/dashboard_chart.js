/* The failures dashboard's trend chart: tests passed and failed per day, stacked, for all types or the one
 * chosen. The figures come from the page's JSON script #trend-data; Chart.js is the vendored copy. */
(function () {
  "use strict";
  function start() {
    const data = JSON.parse(document.getElementById("trend-data").textContent);
    const select = document.getElementById("trend-type");
    const canvas = document.getElementById("trend-chart");
    const byKey = {};
    data.series.forEach(function (series) { byKey[series.key] = series; });
    function datasets(series) {
      return [
        { label: "Passed", data: series.passed, backgroundColor: "#15803d", stack: "tests" },
        { label: "Failed", data: series.failed, backgroundColor: "#b91c1c", stack: "tests" },
      ];
    }
    const chart = new window.Chart(canvas, {
      type: "bar",
      data: { labels: data.days, datasets: datasets(byKey[select.value]) },
      options: {
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: "bottom" } },
      },
    });
    canvas.dataset.ready = "true";
    select.addEventListener("change", function () {
      chart.data.datasets = datasets(byKey[select.value]);
      chart.update();
      canvas.dataset.type = select.value;
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

// Click a column header to sort its table; click again to reverse. Number-like cells ("41,569",
// "x0.41", "-0.8 pp") sort by value, ahead of text cells ("-", "within spread").
(function () {
  "use strict";
  function key(text) {
    var match = /^[x+]?(-?[\d,]*\.?\d+(?:e[-+]?\d+)?)/i.exec(text.trim());
    return match ? parseFloat(match[1].replace(/,/g, "")) : null;
  }
  function compare(a, b) {
    var x = key(a), y = key(b);
    if (x !== null && y !== null) { return x - y; }
    if (x !== null) { return -1; }
    if (y !== null) { return 1; }
    return a.localeCompare(b);
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.querySelectorAll("th");
    heads.forEach(function (th, column) {
      th.tabIndex = 0;
      th.addEventListener("click", function () {
        var descending = th.getAttribute("aria-sort") === "ascending";
        heads.forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r, s) {
          var order = compare(r.cells[column].textContent, s.cells[column].textContent);
          return descending ? -order : order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
}());

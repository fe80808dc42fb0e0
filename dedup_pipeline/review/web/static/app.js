// Keyboard shortcuts for the review app. Pages work without this script.
(function () {
  "use strict";

  function typing(event) {
    var target = event.target;
    var tag = target && target.tagName;
    return event.ctrlKey || event.metaKey || event.altKey ||
      tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" ||
      (target && target.isContentEditable);
  }

  function queuePage() {
    var rows = Array.prototype.slice.call(document.querySelectorAll("#queue tbody tr[data-href]"));
    var current = rows.length ? 0 : -1;

    function select(index) {
      if (index < 0 || index >= rows.length) return;
      if (current >= 0) rows[current].classList.remove("selected");
      current = index;
      rows[current].classList.add("selected");
      rows[current].scrollIntoView({ block: "nearest" });
    }

    if (current === 0) rows[0].classList.add("selected");
    document.addEventListener("keydown", function (event) {
      if (typing(event)) return;
      if (event.key === "j") { select(current + 1); event.preventDefault(); }
      else if (event.key === "k") { select(current - 1); event.preventDefault(); }
      else if (event.key === "Enter" && current >= 0) {
        window.location.href = rows[current].getAttribute("data-href");
        event.preventDefault();
      } else if (event.key === "/") {
        var search = document.getElementById("search");
        if (search) { search.focus(); event.preventDefault(); }
      }
    });
  }

  function proposalPage() {
    function click(id) {
      var element = document.getElementById(id);
      if (element) element.click();
    }
    function follow(id) {
      var link = document.getElementById(id);
      if (link) window.location.href = link.getAttribute("href");
    }
    document.addEventListener("keydown", function (event) {
      if (typing(event)) return;
      if (event.key === "a") { click("approve"); }
      else if (event.key === "r") { click("reject"); }
      else if (event.key === "s") {
        var group = document.querySelector("select.group");
        if (group) { group.focus(); event.preventDefault(); }
      }
      else if (event.key === "n") { follow("next"); }
      else if (event.key === "p") { follow("prev"); }
    });
  }

  var page = document.body.getAttribute("data-page");
  if (page === "queue") queuePage();
  else if (page === "proposal") proposalPage();
})();

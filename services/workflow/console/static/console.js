// Live countdowns to each deadline, and inserting a playbook's text into a form. The pages work
// without it: the deadline itself is printed, and the text can be copied by hand.
(function () {
  function left(ms) {
    var overdue = ms < 0, s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var text = (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (d ? "" : sec + "s");
    return (overdue ? "−" : "") + text.trim();
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-deadline]").forEach(function (el) {
      var ms = Date.parse(el.getAttribute("data-deadline")) - now;
      if (!el.title) el.title = el.textContent;
      el.textContent = left(ms);
      el.classList.toggle("overdue", ms < 0);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    document.querySelectorAll("button.insert").forEach(function (button) {
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-into"));
        if (!target) return;
        var details = target.closest("details");
        if (details) details.open = true;
        target.value = (target.value ? target.value + "\n" : "") + button.getAttribute("data-insert");
        target.focus();
      });
    });
  });
})();

// Live countdowns to each deadline, the time each complaint waiting to start has waited, and inserting a playbook's text into a form. The pages work
// without it: the deadline itself is printed, and the text can be copied by hand.
(function () {
  var UNITS = { zh: ["天", "小时", "分", "秒", "超时 "], en: ["d ", "h ", "m ", "s", "−"] };
  function left(ms) {
    var overdue = ms < 0, s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var u = UNITS[document.documentElement.lang === "zh-CN" ? "zh" : "en"];
    var text = (d ? d + u[0] : "") + (d || h ? h + u[1] : "") + m + u[2] + (d ? "" : sec + u[3]);
    return (overdue ? u[4] : "") + text.trim();
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-deadline]").forEach(function (el) {
      var ms = Date.parse(el.getAttribute("data-deadline")) - now;
      if (!el.title) el.title = el.textContent;
      el.textContent = left(ms);
      el.classList.toggle("overdue", ms < 0);
    });
    document.querySelectorAll("time[data-since]").forEach(function (el) {
      if (!el.title) el.title = el.textContent;
      el.textContent = left(Math.max(now - Date.parse(el.getAttribute("data-since")), 0));
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

// The location dashboard: draws the revenue chart from the page's json_script data and
// keeps the tiles live. The location's stream (inventory's back-office websocket) sends
// "stock" and "pickup" events; on any of them, or after a reconnect (something may have
// been missed), the page asks htmx to refetch the tiles fragment (the server computes
// the numbers; htmx debounces the burst by 500 ms). While the socket is down the tiles
// poll every 30 s instead (hx-trigger's filter on window.OmoDashboardLive).
(function () {
  if (window.OmoDashboard) {
    // Boosted navigation back to the dashboard re-runs this script: reuse the state.
    window.OmoDashboard.attach();
    return;
  }
  const REFRESH_TYPES = new Set(["stock", "pickup", "sale", "order", "transfer", "alert"]);
  const SETTLE_MS = 5000;
  const state = { socket: null, url: null, retry: 0, timer: null, settle: null, chart: null };

  function root() {
    return document.getElementById("dashboard-root");
  }

  function setStatus(text, live) {
    window.OmoDashboardLive = live;
    const el = document.getElementById("dashboard-live");
    if (el) el.textContent = text;
  }

  function refresh() {
    document.body.dispatchEvent(new CustomEvent("dashboard-changed"));
  }

  function drawChart() {
    const canvas = document.getElementById("revenue-chart");
    const source = document.getElementById("revenue-data");
    if (!canvas || !source || !window.Chart) return;
    const existing = window.Chart.getChart(canvas);
    if (existing) existing.destroy();
    const data = JSON.parse(source.textContent);
    state.chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels.map((day) => day.slice(5)),
        datasets: [
          { label: "POS", data: data.pos.map(Number), backgroundColor: "#1f6feb", stack: "revenue" },
          {
            label: "Online (collected here)",
            data: data.online.map(Number),
            backgroundColor: "#f0883e",
            stack: "revenue",
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  function close() {
    clearTimeout(state.timer);
    clearTimeout(state.settle);
    if (state.socket) {
      state.socket.onclose = null;
      state.socket.close();
    }
    state.socket = null;
    state.url = null;
  }

  function connect(url, isReconnect) {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + url);
    state.socket = socket;
    state.url = url;
    socket.onopen = function () {
      state.retry = 0;
      setStatus("Live updates: on", true);
      if (isReconnect) refresh();
    };
    socket.onmessage = function (event) {
      if (!root()) {
        close();
        return;
      }
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (!REFRESH_TYPES.has(message.type)) return;
      refresh();
      if (message.type === "stock") {
        // Low-stock alerts are opened by a background task after the stock change
        // commits, and that task sends no event: look again once it has had time.
        clearTimeout(state.settle);
        state.settle = setTimeout(refresh, SETTLE_MS);
      }
    };
    socket.onclose = function (event) {
      state.socket = null;
      state.url = null;
      if (!root()) return;
      if (event.code === 4401 || event.code === 4403) {
        setStatus("Live updates: off (refreshing every 30 s)", false);
        return;
      }
      setStatus("Live updates: reconnecting… (refreshing every 30 s)", false);
      const delay = Math.min(30000, 500 * 2 ** state.retry) * (0.75 + Math.random() / 2);
      state.retry += 1;
      state.timer = setTimeout(function () {
        if (root()) connect(url, true);
      }, delay);
    };
  }

  function attach() {
    const container = root();
    if (!container) {
      close();
      window.OmoDashboardLive = false;
      return;
    }
    drawChart();
    const url = container.dataset.ws;
    if (state.socket && state.url === url) return;
    close();
    setStatus("Live updates: connecting…", false);
    connect(url, false);
  }

  window.OmoDashboard = { attach: attach, chart: () => state.chart };
  document.addEventListener("htmx:historyRestore", attach);
  // Boosted navigation away from the dashboard: drop the socket.
  document.addEventListener("htmx:afterSettle", function () {
    if (!root()) close();
  });
  attach();
})();

// Live numbers on the stock screen: a websocket per location forwards committed stock
// events; each updates its row by SKU and flashes it. On reconnect the table is
// refetched through htmx, so a change broadcast while disconnected is not missed.
(function () {
  if (window.OmoLiveStock) {
    window.OmoLiveStock.attach();
    return;
  }
  const state = { socket: null, url: null, retry: 0, timer: null, connectedOnce: false };

  function table() {
    return document.getElementById("stock-table");
  }

  function setStatus(text) {
    const el = document.querySelector("[data-testid=live-status]");
    if (el) el.textContent = text;
  }

  function updateRow(message) {
    const container = table();
    if (!container || message.location !== container.dataset.location) return;
    const row = container.querySelector('tr[data-sku="' + CSS.escape(message.sku) + '"]');
    if (!row) return;
    for (const field of ["on_hand", "reserved", "available"]) {
      const cell = row.querySelector('[data-field="' + field + '"]');
      if (!cell || message[field] === undefined) continue;
      let html = String(message[field]);
      const reorder = parseInt(row.dataset.reorder || "0", 10);
      if (field === "available" && reorder > 0 && message.available <= reorder) {
        html += ' <span class="badge warn">low</span>';
      }
      cell.innerHTML = html;
    }
    row.classList.remove("flash");
    void row.offsetWidth; // restart the highlight animation
    row.classList.add("flash");
  }

  function refetch() {
    const container = table();
    if (!container || !window.htmx) return;
    window.htmx.ajax("GET", container.dataset.refresh + window.location.search, {
      target: "#stock-table",
      swap: "innerHTML",
    });
  }

  function close() {
    clearTimeout(state.timer);
    if (state.socket) {
      state.socket.onclose = null;
      state.socket.close();
    }
    state.socket = null;
    state.url = null;
  }

  function connect(url) {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + url);
    state.socket = socket;
    state.url = url;
    socket.onopen = function () {
      state.retry = 0;
      setStatus("live");
      if (state.connectedOnce) refetch();
      state.connectedOnce = true;
    };
    socket.onmessage = function (event) {
      if (!table()) {
        close();
        return;
      }
      const message = JSON.parse(event.data);
      if (message.type === "stock") updateRow(message);
    };
    socket.onclose = function (event) {
      state.socket = null;
      if (event.code === 4403 || event.code === 4401 || !table()) {
        setStatus("not live");
        return;
      }
      setStatus("reconnecting…");
      const delay = Math.min(30000, 500 * 2 ** state.retry) * (0.75 + Math.random() / 2);
      state.retry += 1;
      state.timer = setTimeout(function () {
        if (table()) connect(url);
      }, delay);
    };
  }

  function attach() {
    const container = table();
    if (!container) {
      close();
      return;
    }
    const url = container.dataset.ws;
    if (state.socket && state.url === url) return;
    close();
    state.connectedOnce = false;
    connect(url);
  }

  window.OmoLiveStock = { attach: attach };
  document.addEventListener("htmx:historyRestore", attach);
  attach();
})();

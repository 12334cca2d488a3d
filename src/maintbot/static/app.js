// MaintBot's web chat: plain JavaScript over the service's HTTP API (no framework, no build step).
// Answers stream in from POST /api/v1/chat/stream (Server-Sent Events read with fetch), then their table,
// SQL, chart and downloads appear; conversations are listed from /api/v1/sessions.
"use strict";

(() => {
  const API = "/api/v1";
  const KEY_STORAGE = "maintbot.apiKey";
  const LANG_STORAGE = "maintbot.lang";
  const TABLE_ROWS_SHOWN = 200;
  const ARTIFACT_TIMEOUT_MS = 120000;

  const STRINGS = {
    en: {
      tagline: "Maintenance data assistant",
      skipToQuestion: "Skip to the question box",
      newConversation: "New conversation",
      recentConversations: "Recent conversations",
      noConversations: "No conversations yet. Ask a question to start one.",
      closeConversations: "Close conversations",
      showConversations: "Show conversations",
      hideConversations: "Hide conversations",
      apiKey: "API key",
      apiDocs: "API docs",
      apiDocsTitle: "The HTTP API, documented",
      otherLanguage: "Español",
      welcomeTitle: "Ask your maintenance data",
      welcomeText:
        "Questions in English or Spanish about equipment, work orders, downtime, costs and spare parts. " +
        "Every answer comes with its table, a chart when it helps, and the SQL behind it.",
      tryAsking: "Try asking",
      yourQuestion: "Your question",
      placeholder: "Ask a maintenance question…",
      send: "Send",
      composerHint: "Enter to send · Shift+Enter for a new line",
      you: "You",
      bot: "MaintBot",
      keyTitle: "API key needed",
      keyText: "This MaintBot service asks for an API key. It is kept in this browser only.",
      keyRejected: "That key was not accepted: {detail}",
      cancel: "Cancel",
      saveKey: "Save key",
      stage_understand: "Understanding the question",
      stage_translate: "Translating",
      stage_classify: "Reading the question",
      stage_generate: "Writing the query",
      stage_correct: "Correcting the query",
      stage_query: "Querying the database",
      stage_answer: "Writing the answer",
      stage_describe: "Writing the answer",
      stage_persist: "Saving",
      stage_default: "Working",
      thinking: "Working on it",
      rows: "{count} rows",
      row: "1 row",
      noRows: "The query returned no rows.",
      shownRows: "Showing the first {shown} of {count} rows. Download the CSV or Excel file for all of them.",
      truncated: "The result was cut at the service's row limit.",
      tableCaption: "Result table",
      showSql: "Show SQL",
      hideSql: "Hide SQL",
      copySql: "Copy",
      copied: "Copied",
      sqlLabel: "The SQL that produced this table",
      chart: "Chart",
      chartPending: "Drawing the chart…",
      chartFailed: "The chart could not be drawn.",
      chartAlt: "Chart: {title}",
      openChart: "Open the chart full size",
      downloadCsv: "CSV",
      downloadXlsx: "Excel",
      downloadLabel: "Download {kind}",
      preparing: "Preparing {kind}…",
      downloadFailed: "{kind} could not be made",
      helpful: "Helpful",
      notHelpful: "Not helpful",
      thanks: "Thanks for the feedback.",
      feedbackFailed: "The feedback could not be sent.",
      engine_local: "built-in engine",
      engine_llm: "language model",
      engine_example: "verified example",
      cached: "cached",
      degraded: "fallback: the language model was unavailable",
      milliseconds: "{ms} ms",
      answered: "MaintBot answered: {text}",
      errorTitle: "Something went wrong",
      networkError: "The service could not be reached. Check your connection and try again.",
      rateLimited: "Too many questions at once. Try again in {seconds} s.",
      unavailable: "The service is busy or a dependency is down. Try again in a moment.",
      sessionMissing: "That conversation no longer exists.",
      deleteConversation: "Delete conversation “{title}”",
      confirmDelete: "Delete the conversation “{title}”? This cannot be undone.",
      untitled: "Untitled conversation",
      messages: "{count} messages",
      loading: "Loading…",
      justNow: "just now",
    },
    es: {
      tagline: "Asistente de datos de mantenimiento",
      skipToQuestion: "Ir al cuadro de pregunta",
      newConversation: "Nueva conversación",
      recentConversations: "Conversaciones recientes",
      noConversations: "Aún no hay conversaciones. Haz una pregunta para empezar una.",
      closeConversations: "Cerrar conversaciones",
      showConversations: "Mostrar conversaciones",
      hideConversations: "Ocultar conversaciones",
      apiKey: "Clave de API",
      apiDocs: "Documentación de la API",
      apiDocsTitle: "La API HTTP, documentada",
      otherLanguage: "English",
      welcomeTitle: "Pregunta a tus datos de mantenimiento",
      welcomeText:
        "Preguntas en español o inglés sobre equipos, órdenes de trabajo, paradas, costos y repuestos. " +
        "Cada respuesta trae su tabla, un gráfico cuando ayuda y la consulta SQL que la produjo.",
      tryAsking: "Prueba a preguntar",
      yourQuestion: "Tu pregunta",
      placeholder: "Haz una pregunta de mantenimiento…",
      send: "Enviar",
      composerHint: "Intro para enviar · Mayús+Intro para una nueva línea",
      you: "Tú",
      bot: "MaintBot",
      keyTitle: "Se necesita una clave de API",
      keyText: "Este servicio de MaintBot pide una clave de API. Se guarda solo en este navegador.",
      keyRejected: "La clave no fue aceptada: {detail}",
      cancel: "Cancelar",
      saveKey: "Guardar clave",
      stage_understand: "Entendiendo la pregunta",
      stage_translate: "Traduciendo",
      stage_classify: "Leyendo la pregunta",
      stage_generate: "Escribiendo la consulta",
      stage_correct: "Corrigiendo la consulta",
      stage_query: "Consultando la base de datos",
      stage_answer: "Redactando la respuesta",
      stage_describe: "Redactando la respuesta",
      stage_persist: "Guardando",
      stage_default: "Trabajando",
      thinking: "Trabajando en ello",
      rows: "{count} filas",
      row: "1 fila",
      noRows: "La consulta no devolvió filas.",
      shownRows: "Se muestran las primeras {shown} de {count} filas. Descarga el CSV o el Excel para verlas todas.",
      truncated: "El resultado se cortó en el límite de filas del servicio.",
      tableCaption: "Tabla del resultado",
      showSql: "Ver SQL",
      hideSql: "Ocultar SQL",
      copySql: "Copiar",
      copied: "Copiado",
      sqlLabel: "La consulta SQL que produjo esta tabla",
      chart: "Gráfico",
      chartPending: "Dibujando el gráfico…",
      chartFailed: "No se pudo dibujar el gráfico.",
      chartAlt: "Gráfico: {title}",
      openChart: "Abrir el gráfico a tamaño completo",
      downloadCsv: "CSV",
      downloadXlsx: "Excel",
      downloadLabel: "Descargar {kind}",
      preparing: "Preparando {kind}…",
      downloadFailed: "No se pudo generar {kind}",
      helpful: "Útil",
      notHelpful: "No útil",
      thanks: "Gracias por tu opinión.",
      feedbackFailed: "No se pudo enviar la opinión.",
      engine_local: "motor integrado",
      engine_llm: "modelo de lenguaje",
      engine_example: "ejemplo verificado",
      cached: "en caché",
      degraded: "alternativa: el modelo de lenguaje no estaba disponible",
      milliseconds: "{ms} ms",
      answered: "MaintBot respondió: {text}",
      errorTitle: "Algo salió mal",
      networkError: "No se pudo contactar con el servicio. Revisa la conexión e inténtalo de nuevo.",
      rateLimited: "Demasiadas preguntas a la vez. Inténtalo de nuevo en {seconds} s.",
      unavailable: "El servicio está ocupado o una dependencia no responde. Inténtalo de nuevo en un momento.",
      sessionMissing: "Esa conversación ya no existe.",
      deleteConversation: "Eliminar la conversación «{title}»",
      confirmDelete: "¿Eliminar la conversación «{title}»? No se puede deshacer.",
      untitled: "Conversación sin título",
      messages: "{count} mensajes",
      loading: "Cargando…",
      justNow: "ahora mismo",
    },
  };

  // Questions to click on an empty conversation: the interface's language first, then the other one.
  const EXAMPLES = {
    en: [
      { topic: "Equipment", text: "How many pumps are there at each site?" },
      { topic: "Downtime", text: "Top 5 machines by hours of downtime over the past year" },
      { topic: "Cost", text: "Maintenance cost by site this year" },
      { topic: "Reliability", text: "Failures per month in the last year" },
    ],
    es: [
      { topic: "Equipos", text: "¿Cuántos equipos tienen mantenimiento pendiente?" },
      { topic: "Costos", text: "Costo de mantenimiento por planta este año" },
      { topic: "Órdenes", text: "Órdenes de trabajo abiertas por planta" },
      { topic: "Fiabilidad", text: "MTTR por tipo de equipo en los últimos 6 meses" },
    ],
  };

  // 24×24 stroke icons.
  const ICONS = {
    menu: "M3 6h18M3 12h18M3 18h18",
    close: "M18 6 6 18M6 6l12 12",
    plus: "M12 5v14M5 12h14",
    send: "M22 2 11 13M22 2l-7 20-4-9-9-4 20-7z",
    wrench:
      "M14.7 6.3a1 1 0 0 0 0 1.4l1.6 1.6a1 1 0 0 0 1.4 0l3.77-3.77a6 6 0 0 1-7.94 7.94l-6.91 6.91" +
      "a2.12 2.12 0 0 1-3-3l6.91-6.91a6 6 0 0 1 7.94-7.94l-3.76 3.76z",
    globe:
      "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zM2 12h20M12 2a15.3 15.3 0 0 1 4 10 15.3 15.3 0 0 1-4 10 " +
      "15.3 15.3 0 0 1-4-10 15.3 15.3 0 0 1 4-10z",
    key: "M21 2l-2 2m-7.6 7.6a5.5 5.5 0 1 1-7.78 7.78 5.5 5.5 0 0 1 7.78-7.78zm0 0L15.5 7.5m0 0 3 3L22 7l-3-3m-3.5 3.5L19 4",
    code: "M16 18l6-6-6-6M8 6l-6 6 6 6",
    thumbUp:
      "M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 1-2-2v-7" +
      "a2 2 0 0 1 2-2h3",
    thumbDown:
      "M10 15v4a3 3 0 0 0 3 3l4-9V2H5.72a2 2 0 0 0-2 1.7l-1.38 9a2 2 0 0 0 2 2.3zm7-13h2.67A2.31 2.31 0 0 1 " +
      "22 4v7a2.31 2.31 0 0 1-2.33 2H17",
    download: "M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4M7 10l5 5 5-5M12 15V3",
    copy: "M9 9h11v11H9zM5 15H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1h10a1 1 0 0 1 1 1v1",
    trash: "M3 6h18M19 6l-1 14a2 2 0 0 1-2 2H8a2 2 0 0 1-2-2L5 6M10 11v6M14 11v6M9 6V4a1 1 0 0 1 1-1h4a1 1 0 0 1 1 1v2",
    alert: "M12 9v4M12 17h.01M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z",
    chat: "M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z",
    arrow: "M5 12h14M13 6l6 6-6 6",
    spinner: "M12 3a9 9 0 1 0 9 9",
  };

  const state = {
    lang: "en",
    sessionId: null,
    sessions: [],
    busy: false,
    keyPrompt: null,
    sidebarOpen: true,
  };

  const $ = (id) => document.getElementById(id);
  const narrow = window.matchMedia("(max-width: 899px)");

  // ---- Text and formatting -------------------------------------------------------------------------

  function t(key, values = {}) {
    const template = STRINGS[state.lang][key] ?? STRINGS.en[key] ?? key;
    return template.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
  }

  function has(key) {
    return key in STRINGS[state.lang] || key in STRINGS.en;
  }

  function pickLanguage() {
    const stored = localStorage.getItem(LANG_STORAGE);
    if (stored === "en" || stored === "es") return stored;
    const preferred = navigator.languages?.length ? navigator.languages : [navigator.language || "en"];
    for (const tag of preferred) {
      const base = String(tag).toLowerCase().split("-")[0];
      if (base === "es" || base === "en") return base;
    }
    return "en";
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
      node.placeholder = t(node.dataset.i18nPlaceholder);
    }
    for (const node of document.querySelectorAll("[data-i18n-aria-label]")) {
      node.setAttribute("aria-label", t(node.dataset.i18nAriaLabel));
    }
    for (const node of document.querySelectorAll("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
    $("lang-toggle-label").textContent = t("otherLanguage");
    $("lang-toggle").lang = state.lang === "en" ? "es" : "en";
    if (!state.sessionId) $("conversation-title").textContent = t("newConversation");
    renderExamples();
    renderSessions();
    updateMenuToggle();
  }

  // Numbers as the reader writes them: the browser's own locale (es-MX and es-ES differ) when it is in the
  // language of the page, else the page's language.
  function numberLocale() {
    const browser = navigator.language || state.lang;
    return browser.toLowerCase().split("-")[0] === state.lang ? browser : state.lang;
  }

  const numberFormats = new Map();
  function formatNumber(value, decimals) {
    const locale = numberLocale();
    const key = `${locale}:${decimals}`;
    if (!numberFormats.has(key)) {
      numberFormats.set(
        key,
        new Intl.NumberFormat(locale, { minimumFractionDigits: decimals, maximumFractionDigits: decimals }),
      );
    }
    return numberFormats.get(key).format(value);
  }

  const ACRONYMS = new Set(["usd", "eur", "mttr", "mtbf", "id", "pm", "kpi"]);
  function columnLabel(name) {
    const words = String(name).split("_").filter(Boolean);
    return words
      .map((word, index) => {
        if (ACRONYMS.has(word)) return word.toUpperCase();
        return index === 0 ? word.charAt(0).toUpperCase() + word.slice(1) : word;
      })
      .join(" ");
  }

  function relativeTime(isoDate) {
    const seconds = (new Date(isoDate).getTime() - Date.now()) / 1000;
    if (!Number.isFinite(seconds)) return "";
    if (Math.abs(seconds) < 45) return t("justNow");
    const format = new Intl.RelativeTimeFormat(state.lang, { numeric: "auto" });
    const units = [
      ["year", 31536000],
      ["month", 2592000],
      ["week", 604800],
      ["day", 86400],
      ["hour", 3600],
      ["minute", 60],
    ];
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size) return format.format(Math.round(seconds / size), unit);
    }
    return t("justNow");
  }

  // ---- DOM helpers ---------------------------------------------------------------------------------

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === false || value === null || value === undefined) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) {
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
      }
    }
    return node;
  }

  function icon(name, className = "icon") {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", className);
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", ICONS[name] ?? "");
    svg.append(path);
    return svg;
  }

  function fillIcons(root = document) {
    for (const node of root.querySelectorAll("[data-icon]")) {
      if (!node.querySelector("svg")) node.prepend(icon(node.dataset.icon));
    }
  }

  function announce(text) {
    const announcer = $("announcer");
    announcer.textContent = "";
    // A fresh text node after a tick makes screen readers read it even when it repeats.
    window.setTimeout(() => {
      announcer.textContent = text;
    }, 50);
  }

  const conversation = () => $("conversation");
  function nearBottom() {
    const node = conversation();
    return node.scrollHeight - node.scrollTop - node.clientHeight < 160;
  }
  function scrollToBottom(force = false) {
    const node = conversation();
    if (force || nearBottom()) node.scrollTop = node.scrollHeight;
  }

  // Show a new answer whole when it fits, else from its question down, so that its start is not missed.
  function reveal(card) {
    const view = conversation();
    const start = card.item.previousElementSibling ?? card.item;
    const top = start.getBoundingClientRect().top - view.getBoundingClientRect().top - 12;
    const height = card.item.getBoundingClientRect().bottom - start.getBoundingClientRect().top;
    if (height + 24 <= view.clientHeight) scrollToBottom(true);
    else view.scrollTop += top;
  }

  // ---- HTTP ----------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, error, detail, retryAfter = null) {
      super(detail);
      this.status = status;
      this.error = error;
      this.detail = detail;
      this.retryAfter = retryAfter;
    }
  }

  async function readError(response) {
    let error = `HTTP${response.status}`;
    let detail = response.statusText || error;
    try {
      const body = await response.json();
      if (body && typeof body.error === "string") {
        error = body.error;
        detail = String(body.detail ?? detail);
      }
    } catch {
      // Not our JSON (a proxy's page): the status says enough.
    }
    const retryAfter = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
    return new ApiError(response.status, error, detail, Number.isFinite(retryAfter) ? retryAfter : null);
  }

  // Every call to the API: sends the stored key, and on a 401 asks for one and tries again.
  async function api(path, { method = "GET", body, accept = "application/json" } = {}) {
    const url = path.startsWith("/") ? path : `${API}/${path}`;
    for (;;) {
      const headers = { Accept: accept };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const key = localStorage.getItem(KEY_STORAGE);
      if (key) headers["X-API-Key"] = key;
      let response;
      try {
        response = await fetch(url, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          cache: "no-store",
        });
      } catch {
        throw new ApiError(0, "NetworkError", t("networkError"));
      }
      if (response.ok) return response;
      const error = await readError(response);
      if (response.status === 401 && (await askForKey(error.detail, Boolean(key)))) continue;
      throw error;
    }
  }

  async function apiJson(path, options) {
    const response = await api(path, options);
    return response.status === 204 ? null : response.json();
  }

  function describeError(error) {
    if (!(error instanceof ApiError)) return t("networkError");
    if (error.status === 429) return t("rateLimited", { seconds: error.retryAfter ?? 5 });
    if (error.status === 503 && !error.detail) return t("unavailable");
    return error.detail;
  }

  // ---- API key -------------------------------------------------------------------------------------

  // One prompt at a time: every request that met a 401 waits for the same answer.
  function askForKey(detail, hadKey) {
    if (state.keyPrompt) return state.keyPrompt;
    const dialog = $("key-dialog");
    const input = $("key-input");
    $("key-error").textContent = hadKey ? t("keyRejected", { detail }) : "";
    input.value = "";
    state.keyPrompt = new Promise((resolve) => {
      const finish = (saved) => {
        $("key-form").removeEventListener("submit", onSubmit);
        $("key-cancel").removeEventListener("click", onCancel);
        dialog.removeEventListener("cancel", onCancel);
        if (dialog.open) dialog.close();
        state.keyPrompt = null;
        updateKeyButton();
        resolve(saved);
      };
      const onSubmit = (event) => {
        event.preventDefault();
        const value = input.value.trim();
        if (!value) {
          input.focus();
          return;
        }
        localStorage.setItem(KEY_STORAGE, value);
        finish(true);
      };
      const onCancel = (event) => {
        event.preventDefault();
        finish(false);
      };
      $("key-form").addEventListener("submit", onSubmit);
      $("key-cancel").addEventListener("click", onCancel);
      dialog.addEventListener("cancel", onCancel);
    });
    dialog.showModal();
    input.focus();
    return state.keyPrompt;
  }

  function updateKeyButton() {
    $("key-change").hidden = !localStorage.getItem(KEY_STORAGE);
  }

  // ---- Sidebar and sessions ------------------------------------------------------------------------

  function setSidebar(open, { focus = false } = {}) {
    state.sidebarOpen = open;
    const app = $("app");
    app.classList.toggle("sidebar-open", open);
    app.classList.toggle("sidebar-collapsed", !open);
    $("scrim").hidden = !(open && narrow.matches);
    // On a phone the closed drawer is off screen: keep it out of the tab order too.
    $("sidebar").inert = !open && narrow.matches;
    updateMenuToggle();
    if (open && focus) $("new-chat").focus();
  }

  function updateMenuToggle() {
    const toggle = $("menu-toggle");
    toggle.setAttribute("aria-expanded", String(state.sidebarOpen));
    toggle.setAttribute("aria-label", t(state.sidebarOpen ? "hideConversations" : "showConversations"));
  }

  async function loadSessions() {
    try {
      const page = await apiJson("sessions?limit=50");
      state.sessions = page.sessions;
    } catch (error) {
      state.sessions = [];
      if (error instanceof ApiError && error.status === 401) return;
    }
    renderSessions();
  }

  function renderSessions() {
    const list = $("session-list");
    list.replaceChildren();
    $("sessions-empty").hidden = state.sessions.length > 0;
    for (const session of state.sessions) {
      const title = session.title || t("untitled");
      const current = session.id === state.sessionId;
      const open = el(
        "button",
        {
          type: "button",
          class: "session-open",
          "aria-current": current ? "true" : false,
          onclick: () => openSession(session.id),
        },
        el("span", { class: "session-title", text: title }),
        el("span", {
          class: "session-meta",
          text: `${relativeTime(session.updated_at)} · ${t("messages", { count: session.message_count })}`,
        }),
      );
      const remove = el("button", {
        type: "button",
        class: "icon-button session-delete",
        "aria-label": t("deleteConversation", { title }),
        title: t("deleteConversation", { title }),
        onclick: () => deleteSession(session.id, title),
      });
      remove.append(icon("trash"));
      list.append(el("li", { class: current ? "session current" : "session" }, open, remove));
    }
  }

  function startNewConversation() {
    state.sessionId = null;
    history.replaceState(null, "", location.pathname + location.search);
    clearMessages();
    $("welcome").hidden = false;
    $("conversation-title").textContent = t("newConversation");
    renderSessions();
    if (narrow.matches) setSidebar(false);
    $("question").focus();
  }

  async function openSession(sessionId) {
    if (state.busy) return;
    if (narrow.matches) setSidebar(false);
    let detail;
    try {
      detail = await apiJson(`sessions/${encodeURIComponent(sessionId)}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        announce(t("sessionMissing"));
        startNewConversation();
        loadSessions();
        return;
      }
      showPageError(describeError(error));
      return;
    }
    state.sessionId = detail.id;
    history.replaceState(null, "", `#${encodeURIComponent(detail.id)}`);
    $("conversation-title").textContent = detail.title || t("untitled");
    $("welcome").hidden = true;
    clearMessages();
    const messages = $("messages");
    let question = "";
    for (const message of detail.messages) {
      if (message.role === "user") {
        question = message.content;
        messages.append(userMessage(message.content));
      } else {
        const card = answerCard();
        messages.append(card.item);
        if (message.answer) renderAnswer(card, message.answer, question);
        else card.text.textContent = message.content;
        card.item.classList.remove("pending");
      }
    }
    renderSessions();
    scrollToBottom(true);
    conversation().focus({ preventScroll: true });
  }

  async function deleteSession(sessionId, title) {
    if (!window.confirm(t("confirmDelete", { title }))) return;
    try {
      await api(`sessions/${encodeURIComponent(sessionId)}`, { method: "DELETE" });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) {
        showPageError(describeError(error));
        return;
      }
    }
    if (sessionId === state.sessionId) startNewConversation();
    await loadSessions();
  }

  // ---- Messages ------------------------------------------------------------------------------------

  function userMessage(text) {
    return el(
      "li",
      { class: "message message-user" },
      el("h3", { class: "visually-hidden", text: t("you") }),
      el("p", { class: "bubble", text }),
    );
  }

  function answerCard() {
    const text = el("p", { class: "answer-text" });
    const status = el(
      "p",
      { class: "answer-status", role: "status" },
      el("span", { class: "dots", "aria-hidden": "true" }, el("span"), el("span"), el("span")),
      el("span", { class: "stage", text: t("thinking") }),
    );
    const body = el("div", { class: "answer-body" }, status, text);
    const avatar = el("span", { class: "avatar", "aria-hidden": "true" });
    avatar.append(icon("wrench"));
    const item = el(
      "li",
      { class: "message message-bot pending" },
      avatar,
      el("article", { class: "answer" }, el("h3", { class: "visually-hidden", text: t("bot") }), body),
    );
    return { item, body, status, text };
  }

  function setStage(card, stage) {
    const label = has(`stage_${stage}`) ? t(`stage_${stage}`) : t("stage_default");
    card.status.querySelector(".stage").textContent = `${label}…`;
  }

  function renderAnswer(card, answer, question) {
    card.item.classList.remove("pending");
    card.item.dataset.messageId = answer.message_id;
    card.item.dataset.intent = answer.intent;
    card.status.remove();
    card.text.textContent = answer.answer;
    card.text.lang = answer.language;
    if (["refused", "error", "unsupported"].includes(answer.intent)) {
      card.item.classList.add(`intent-${answer.intent}`);
      card.text.prepend(icon("alert", "icon inline-icon"));
    }
    const artifacts = answer.artifacts || [];
    const chart = artifacts.find((artifact) => artifact.kind === "chart");
    if (chart) card.body.append(chartFigure(chart, question || answer.answer));
    if (answer.columns && answer.rows) card.body.append(resultBlock(answer, artifacts));
    card.body.append(answerFooter(answer));
  }

  function showError(card, message) {
    card.item.classList.remove("pending");
    card.item.classList.add("intent-error");
    card.status.remove();
    card.text.replaceChildren(icon("alert", "icon inline-icon"), message);
    card.item.dataset.intent = "failed";
  }

  function showPageError(message) {
    const card = answerCard();
    $("welcome").hidden = true;
    $("messages").append(card.item);
    showError(card, message);
    announce(message);
    scrollToBottom(true);
  }

  // ---- Tables and SQL ------------------------------------------------------------------------------

  function resultBlock(answer, artifacts) {
    const block = el("div", { class: "result" });
    const countText = answer.row_count === 1 ? t("row") : t("rows", { count: formatNumber(answer.row_count, 0) });
    const toolbar = el("div", { class: "result-toolbar" }, el("span", { class: "row-count", text: countText }));
    const actions = el("div", { class: "result-actions" });
    toolbar.append(actions);
    block.append(toolbar);

    if (answer.rows.length === 0) {
      block.append(el("p", { class: "result-note", text: t("noRows") }));
    } else {
      block.append(resultTable(answer));
      if (answer.rows.length > TABLE_ROWS_SHOWN) {
        block.append(
          el("p", {
            class: "result-note",
            text: t("shownRows", {
              shown: formatNumber(TABLE_ROWS_SHOWN, 0),
              count: formatNumber(answer.rows.length, 0),
            }),
          }),
        );
      }
    }
    if (answer.truncated) block.append(el("p", { class: "result-note", text: t("truncated") }));

    for (const artifact of artifacts.filter((a) => a.kind === "csv" || a.kind === "xlsx")) {
      actions.append(downloadButton(artifact));
    }
    if (answer.sql) {
      const sql = sqlPanel(answer.sql);
      actions.append(sql.toggle);
      block.append(sql.panel);
    }
    return block;
  }

  function resultTable(answer) {
    const rows = answer.rows.slice(0, TABLE_ROWS_SHOWN);
    const columns = answer.columns.map((name, index) => {
      const values = rows.map((row) => row[index]);
      const numeric = values.every((v) => v === null || (typeof v === "number" && Number.isFinite(v)));
      const decimals = numeric && values.some((v) => typeof v === "number" && !Number.isInteger(v)) ? 2 : 0;
      // Text with spaces (names) may wrap on a small screen; codes and dates (PRS-0003, 2026-10-27) never do.
      const wraps = !numeric && values.some((v) => typeof v === "string" && v.includes(" "));
      return { name, numeric, decimals, className: numeric ? "num" : wraps ? "wrap" : "" };
    });
    const head = el(
      "tr",
      {},
      columns.map((column) =>
        el("th", { scope: "col", class: column.className, title: column.name, text: columnLabel(column.name) }),
      ),
    );
    const body = rows.map((row) =>
      el(
        "tr",
        {},
        row.map((value, index) => {
          const column = columns[index];
          let text = "";
          if (value === null || value === undefined) text = "";
          else if (column.numeric) text = formatNumber(value, column.decimals);
          else if (typeof value === "boolean") text = value ? "✓" : "—";
          else text = String(value);
          return el("td", { class: column.className, text });
        }),
      ),
    );
    const table = el(
      "table",
      { class: "data-table" },
      el("caption", { class: "visually-hidden", text: t("tableCaption") }),
      el("thead", {}, head),
      el("tbody", {}, body),
    );
    // Focusable so that keyboard users can scroll a wide or long table.
    return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": t("tableCaption") }, table);
  }

  const SQL_KEYWORDS = new Set(
    (
      "select from where and or not in is null as join left right inner outer full cross on group by order " +
      "having limit offset distinct case when then else end with union all exists between like asc desc " +
      "count sum avg min max coalesce cast date strftime round over partition interval extract nulls first last"
    ).split(" "),
  );

  function highlightSql(sql) {
    const code = el("code", { class: "sql" });
    const pattern = /('(?:[^']|'')*')|(\b\d+(?:\.\d+)?\b)|([A-Za-z_][A-Za-z0-9_]*)|(\s+|.)/g;
    let match;
    while ((match = pattern.exec(sql)) !== null) {
      const [token, string, number, word] = match;
      if (string) code.append(el("span", { class: "tok-string", text: token }));
      else if (number) code.append(el("span", { class: "tok-number", text: token }));
      else if (word && SQL_KEYWORDS.has(word.toLowerCase())) code.append(el("span", { class: "tok-keyword", text: token }));
      else code.append(document.createTextNode(token));
    }
    return code;
  }

  let sqlPanels = 0;
  function sqlPanel(sql) {
    const id = `sql-${++sqlPanels}`;
    const copy = el("button", { type: "button", class: "button button-small button-quiet copy-sql" });
    const copyLabel = el("span", { text: t("copySql") });
    copy.append(icon("copy"), copyLabel);
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(sql);
        copyLabel.textContent = t("copied");
        window.setTimeout(() => {
          copyLabel.textContent = t("copySql");
        }, 1500);
      } catch {
        // No clipboard (an insecure origin): the SQL stays selectable.
      }
    });
    const panel = el(
      "div",
      { class: "sql-panel", id, hidden: true, role: "region", "aria-label": t("sqlLabel") },
      el("pre", { tabindex: "0" }, highlightSql(sql)),
      copy,
    );
    const label = el("span", { text: t("showSql") });
    const toggle = el("button", {
      type: "button",
      class: "button button-small button-quiet sql-toggle",
      "aria-expanded": "false",
      "aria-controls": id,
    });
    toggle.append(icon("code"), label);
    toggle.addEventListener("click", () => {
      const open = panel.hidden;
      panel.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
      label.textContent = t(open ? "hideSql" : "showSql");
    });
    return { toggle, panel };
  }

  // ---- Artifacts: chart and downloads --------------------------------------------------------------

  // Poll the artifact's state until it is ready or failed (or we give up), then call back once.
  async function followArtifact(artifact) {
    if (artifact.status !== "pending") {
      return artifact.status === "ready" ? apiJson(artifact.url) : { ...artifact };
    }
    const started = Date.now();
    let delay = 300;
    for (;;) {
      await new Promise((resolve) => window.setTimeout(resolve, delay));
      let detail;
      try {
        detail = await apiJson(artifact.url);
      } catch (error) {
        if (error instanceof ApiError && (error.status === 429 || error.status === 503)) {
          delay = Math.max(delay, (error.retryAfter ?? 2) * 1000);
          continue;
        }
        return { ...artifact, status: "failed" };
      }
      if (detail.status !== "pending") return detail;
      if (Date.now() - started > ARTIFACT_TIMEOUT_MS) return { ...artifact, status: "failed" };
      delay = Math.min(delay * 1.5, 2000);
    }
  }

  async function fetchBlob(url) {
    const response = await api(url, { accept: "*/*" });
    return response.blob();
  }

  // The charts on screen, as object URLs: released when the conversation they belong to is cleared.
  const chartUrls = new Set();
  function clearMessages() {
    $("messages").replaceChildren();
    for (const url of chartUrls) URL.revokeObjectURL(url);
    chartUrls.clear();
  }

  function chartFigure(artifact, title) {
    const placeholder = el(
      "div",
      { class: "chart-placeholder", role: "status" },
      el("span", { class: "spinner", "aria-hidden": "true" }),
      el("span", { text: t("chartPending") }),
    );
    const figure = el("figure", { class: "chart chart-pending", "aria-busy": "true" }, placeholder);
    (async () => {
      const detail = await followArtifact(artifact);
      let blob = null;
      if (detail.status === "ready") {
        try {
          blob = await fetchBlob(artifact.content_url);
        } catch {
          blob = null;
        }
      }
      figure.classList.remove("chart-pending");
      figure.removeAttribute("aria-busy");
      if (!blob) {
        figure.classList.add("chart-failed");
        placeholder.replaceChildren(icon("alert", "icon inline-icon"), el("span", { text: t("chartFailed") }));
        placeholder.removeAttribute("role");
        return;
      }
      const source = URL.createObjectURL(blob);
      chartUrls.add(source);
      const image = el("img", { src: source, alt: t("chartAlt", { title }), class: "chart-image", decoding: "async" });
      const link = el("a", { href: source, target: "_blank", rel: "noopener", class: "chart-link", title: t("openChart") }, image);
      figure.replaceChildren(link);
    })();
    return figure;
  }

  function downloadButton(artifact) {
    const kindLabel = artifact.kind === "csv" ? t("downloadCsv") : t("downloadXlsx");
    const label = el("span", { text: kindLabel });
    const link = el("a", {
      class: "button button-small download download-pending",
      href: artifact.content_url,
      "aria-disabled": "true",
      "aria-label": t("preparing", { kind: kindLabel }),
      "data-kind": artifact.kind,
    });
    link.append(el("span", { class: "spinner small", "aria-hidden": "true" }), label);
    let filename = `maintbot.${artifact.kind}`;
    let ready = false;
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      if (!ready) return;
      try {
        const blob = await fetchBlob(artifact.content_url);
        const url = URL.createObjectURL(blob);
        const save = el("a", { href: url, download: filename, hidden: true });
        document.body.append(save);
        save.click();
        save.remove();
        window.setTimeout(() => URL.revokeObjectURL(url), 60000);
      } catch (error) {
        announce(describeError(error));
      }
    });
    followArtifact(artifact).then((detail) => {
      link.classList.remove("download-pending");
      link.querySelector(".spinner")?.remove();
      if (detail.status === "ready") {
        ready = true;
        filename = detail.filename || filename;
        link.removeAttribute("aria-disabled");
        link.setAttribute("download", filename);
        link.setAttribute("aria-label", t("downloadLabel", { kind: kindLabel }));
        link.prepend(icon("download"));
      } else {
        link.classList.add("download-failed");
        link.setAttribute("aria-label", t("downloadFailed", { kind: kindLabel }));
        link.title = t("downloadFailed", { kind: kindLabel });
        link.prepend(icon("alert"));
      }
    });
    return link;
  }

  // ---- Feedback and details ------------------------------------------------------------------------

  function answerFooter(answer) {
    const note = el("span", { class: "feedback-note", role: "status" });
    const buttons = [];
    const rate = async (rating, button) => {
      if (button.getAttribute("aria-pressed") === "true") return;
      for (const other of buttons) other.disabled = true;
      try {
        await api(`chat/${encodeURIComponent(answer.message_id)}/feedback`, { method: "POST", body: { rating } });
        for (const other of buttons) other.setAttribute("aria-pressed", String(other === button));
        note.textContent = t("thanks");
      } catch {
        note.textContent = t("feedbackFailed");
      } finally {
        for (const other of buttons) other.disabled = false;
      }
    };
    for (const [rating, iconName, labelKey] of [
      ["up", "thumbUp", "helpful"],
      ["down", "thumbDown", "notHelpful"],
    ]) {
      const button = el("button", {
        type: "button",
        class: `icon-button feedback feedback-${rating}`,
        "aria-pressed": "false",
        "aria-label": t(labelKey),
        title: t(labelKey),
      });
      button.append(icon(iconName));
      button.addEventListener("click", () => rate(rating, button));
      buttons.push(button);
    }
    const details = [];
    if (answer.engine) details.push(has(`engine_${answer.engine}`) ? t(`engine_${answer.engine}`) : answer.engine);
    if (answer.timings_ms && typeof answer.timings_ms.total === "number") {
      details.push(t("milliseconds", { ms: formatNumber(Math.round(answer.timings_ms.total), 0) }));
    }
    if (answer.cached) details.push(t("cached"));
    const meta = el("span", { class: "answer-meta", text: details.join(" · ") });
    const footer = el("footer", { class: "answer-footer" }, el("div", { class: "feedback-buttons" }, buttons), note, meta);
    if (answer.degraded) footer.append(el("span", { class: "answer-meta degraded", text: t("degraded") }));
    return footer;
  }

  // ---- Asking --------------------------------------------------------------------------------------

  // Server-Sent Events from a fetch response: yields {event, data} for each message; ":" lines are comments.
  async function* serverSentEvents(response) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      yield* readEvents(reader);
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  async function* readEvents(reader) {
    let buffer = "";
    let name = "message";
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, "");
        buffer = buffer.slice(newline + 1);
        if (line === "") {
          if (data.length) yield { event: name, data: data.join("\n") };
          name = "message";
          data = [];
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const fieldValue = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") name = fieldValue;
          else if (field === "data") data.push(fieldValue);
        }
      }
    }
    if (data.length) yield { event: name, data: data.join("\n") };
  }

  function setBusy(busy) {
    state.busy = busy;
    $("send").disabled = busy;
    $("composer").classList.toggle("busy", busy);
    conversation().setAttribute("aria-busy", String(busy));
  }

  async function ask(question) {
    if (state.busy || !question.trim()) return;
    setBusy(true);
    $("welcome").hidden = true;
    const messages = $("messages");
    messages.append(userMessage(question));
    const card = answerCard();
    messages.append(card.item);
    scrollToBottom(true);
    const body = { message: question };
    if (state.sessionId) body.session_id = state.sessionId;
    let answered = false;
    try {
      const response = await api("chat/stream", { method: "POST", body, accept: "text/event-stream" });
      let streamed = "";
      for await (const { event, data } of serverSentEvents(response)) {
        const payload = JSON.parse(data);
        if (event === "stage") {
          setStage(card, payload.stage);
        } else if (event === "answer_delta") {
          streamed += payload.text;
          card.text.textContent = streamed;
          scrollToBottom();
        } else if (event === "answer") {
          card.text.textContent = payload.text;
          scrollToBottom();
        } else if (event === "final") {
          renderAnswer(card, payload, question);
          reveal(card);
          answered = true;
          announce(t("answered", { text: payload.answer }));
          onAnswered(payload, question);
          break; // the last event: the next question need not wait for the connection to close
        } else if (event === "error") {
          throw new ApiError(200, payload.error, payload.detail);
        }
      }
      if (!answered) throw new ApiError(0, "IncompleteStream", t("networkError"));
    } catch (error) {
      if (!answered) {
        const message = describeError(error);
        showError(card, message);
        announce(message);
        scrollToBottom();
      }
    } finally {
      setBusy(false);
    }
  }

  function onAnswered(answer, question) {
    const isNew = state.sessionId !== answer.session_id;
    state.sessionId = answer.session_id;
    history.replaceState(null, "", `#${encodeURIComponent(answer.session_id)}`);
    if (isNew) $("conversation-title").textContent = question;
    loadSessions();
  }

  // ---- Welcome -------------------------------------------------------------------------------------

  function renderExamples() {
    const other = state.lang === "en" ? "es" : "en";
    const list = $("examples");
    list.replaceChildren();
    const examples = [
      ...EXAMPLES[state.lang].map((example) => ({ ...example, lang: state.lang })),
      ...EXAMPLES[other].slice(0, 2).map((example) => ({ ...example, lang: other })),
    ];
    for (const example of examples) {
      const button = el(
        "button",
        { type: "button", class: "example", lang: example.lang, onclick: () => submitQuestion(example.text) },
        el("span", { class: "example-topic", text: example.topic }),
        el("span", { class: "example-text", text: example.text }),
      );
      button.append(icon("arrow", "icon example-arrow"));
      list.append(el("li", {}, button));
    }
  }

  // ---- Composer ------------------------------------------------------------------------------------

  function autoGrow() {
    const box = $("question");
    box.style.height = "auto";
    box.style.height = `${Math.min(box.scrollHeight, 180)}px`;
  }

  // Ask what is in the question box, or `text` (a clicked example, which leaves the box as it was).
  function submitQuestion(text) {
    const box = $("question");
    const question = (text ?? box.value).trim();
    if (!question || state.busy) return;
    if (text === undefined) {
      box.value = "";
      autoGrow();
    }
    ask(question).then(() => box.focus());
  }

  function wireEvents() {
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      submitQuestion();
    });
    $("question").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submitQuestion();
      }
    });
    $("question").addEventListener("input", autoGrow);
    // The page's address holds the open conversation, so the skip link moves focus instead of the hash.
    document.querySelector(".skip-link").addEventListener("click", (event) => {
      event.preventDefault();
      $("question").focus();
    });
    $("new-chat").addEventListener("click", startNewConversation);
    $("menu-toggle").addEventListener("click", () => setSidebar(!state.sidebarOpen, { focus: true }));
    $("sidebar-close").addEventListener("click", () => {
      setSidebar(false);
      $("menu-toggle").focus();
    });
    $("scrim").addEventListener("click", () => setSidebar(false));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && narrow.matches && state.sidebarOpen && !$("key-dialog").open) {
        setSidebar(false);
        $("menu-toggle").focus();
      }
    });
    narrow.addEventListener("change", () => setSidebar(!narrow.matches));
    $("lang-toggle").addEventListener("click", () => {
      state.lang = state.lang === "en" ? "es" : "en";
      localStorage.setItem(LANG_STORAGE, state.lang);
      applyLanguage();
    });
    $("key-change").addEventListener("click", async () => {
      if (await askForKey("", false)) await loadSessions();
    });
    window.addEventListener("hashchange", () => {
      const id = decodeURIComponent(location.hash.slice(1));
      if (id && id !== state.sessionId) openSession(id);
    });
  }

  async function start() {
    state.lang = pickLanguage();
    fillIcons();
    wireEvents();
    setSidebar(!narrow.matches);
    applyLanguage();
    updateKeyButton();
    await loadSessions();
    const id = decodeURIComponent(location.hash.slice(1));
    if (id) await openSession(id);
    document.documentElement.classList.add("ready");
  }

  start();
})();

// Every string of the UI, in English and Spanish. t(key, vars) looks one up in the current
// language; enumerations (statuses, kinds, substances, units...) live under "enum.<name>.<value>".

export const LANGS = ["en", "es"];

const STRINGS = {
  en: {
    "app.title": "Vigía",
    "app.subtitle": "Counter-drug surveillance — sharing with the partner",
    "lang.label": "Language",
    "login.title": "Sign in",
    "login.username": "User name",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.failed": "Sign-in failed: {detail}",
    "logout": "Sign out",
    "session.expired": "Your session has ended. Please sign in again.",
    "user.as": "{name} ({role}, {agency})",
    "tab.sites": "Sites",
    "tab.products": "Products",
    "tab.metrics": "Metrics",
    "loading": "Loading…",
    "error": "Error: {detail}",
    "none": "—",
    "back": "← Back to the list",
    "yes": "yes",
    "no": "no",
    "map.basemap": "Countries and states",
    "map.aois": "Consented areas",
    "map.coverage": "Coverage",
    "map.sites": "Sites",
    "map.ce90": "CE90 circles",
    "map.legend": "Legend",
    "map.details": "Details",
    "sites.title.staff": "Candidate sites, ranked by probability",
    "sites.title.partner": "Sites shared with {agency}",
    "sites.empty": "No sites to show.",
    "sites.count": "{n} sites",
    "sites.candidates_only": "Candidates only",
    "col.rank": "#",
    "col.site": "Site",
    "col.probability": "Probability",
    "col.status": "Status",
    "col.partner_status": "Partner status",
    "col.indicators": "Indicators",
    "col.last_seen": "Last seen",
    "col.product": "Product",
    "col.kind": "Kind",
    "col.state": "State",
    "col.author": "Author",
    "col.created": "Created",
    "col.released": "Released",
    "col.marking": "Marking",
    "col.released_to": "Released to",
    "col.substance": "Substance",
    "col.amount": "Amount",
    "col.unit": "Unit",
    "col.time": "Time",
    "col.source": "Source",
    "col.confidence": "Confidence",
    "col.chip": "Image",
    "col.term": "Term",
    "col.detail": "Detail",
    "col.log_lr": "log LR",
    "col.date": "Date",
    "col.agency": "Agency",
    "col.seizures": "Seizures",
    "site.title": "Site {id}",
    "site.location": "Location (lat, lon)",
    "site.ce90": "CE90",
    "site.height": "Height (HAE)",
    "site.probability": "Probability",
    "site.log_odds": "Log-odds",
    "site.status": "Status",
    "site.partner_status": "Partner status",
    "site.new": "New since the previous pass",
    "site.previous_pass": "Previous pass",
    "site.first_seen": "First seen",
    "site.last_seen": "Last seen",
    "site.observations": "Observations",
    "site.passes": "Passes (night / empty)",
    "site.sorties": "Sorties",
    "site.aoi": "Consented area",
    "site.vocabulary": "Vocabulary",
    "site.indicators": "Indicators",
    "site.assessment": "Analyst assessment",
    "site.chips": "Image chips",
    "site.products": "Products",
    "site.explanation": "Why this score",
    "site.explanation.total": "Total log-odds {lo} → probability {p}",
    "site.evidence": "Evidence",
    "site.evidence.none": "No evidence rows.",
    "site.actions": "Partner actions",
    "site.actions.none": "No actions recorded yet.",
    "site.m": "{v} m",
    "draft.title": "Draft a site report",
    "draft.assessment": "Assessment",
    "draft.classification": "Classification",
    "draft.caveats": "Caveats",
    "draft.releasable_to": "Releasable to (country codes)",
    "draft.submit": "Save draft",
    "draft.saved": "Draft {id} saved; a supervisor who is not its author can release it.",
    "products.title": "Products",
    "products.empty": "No products.",
    "products.approve": "Approve and release",
    "products.reject": "Reject",
    "products.agencies": "Agencies",
    "products.reason": "Reason",
    "products.own": "Your draft: another supervisor must release it.",
    "products.approved": "Product {id} released to {agencies}.",
    "products.name_agencies": "Name the agencies to release to.",
    "products.confirm_release": "Release {id} to {agencies}? They will see it at once.",
    "products.rejected": "Product {id} rejected.",
    "products.withdraw": "Withdraw release",
    "products.withdraw_agencies": "Withdraw from (all if empty)",
    "products.withdraw_reason": "Reason for withdrawing",
    "products.give_reason": "Give the reason for withdrawing the release.",
    "products.confirm_withdraw": "Withdraw {id} from {agencies}? They lose access at once.",
    "products.withdrawn_msg": "Product {id} withdrawn from {agencies}.",
    "products.withdrawn_on": "Withdrawn on {when}",
    "products.withdrawn_from": "Withdrawn from {agency}",
    "products.open": "Open",
    "products.formats": "Formats",
    "ack.button": "Acknowledge receipt",
    "ack.done": "Receipt acknowledged.",
    "action.title": "Record an action",
    "action.kind": "Kind of action",
    "action.date": "Date",
    "action.lat": "Latitude",
    "action.lon": "Longitude",
    "action.notes": "Notes",
    "action.seizures": "Seizures",
    "action.add_seizure": "Add a seizure",
    "action.remove": "Remove",
    "action.submit": "Record the action",
    "action.recorded": "Action recorded.",
    "action.no_seizures": "This kind of action has no seizures.",
    "metrics.title": "Metrics",
    "metrics.scope.all": "All agencies",
    "metrics.scope.agency": "Agency {agency}",
    "metrics.funnel": "Sites",
    "metrics.detected": "Detected",
    "metrics.released": "Released",
    "metrics.acted_on": "Acted on",
    "metrics.median_det_rel": "Median hours, detection → release",
    "metrics.median_rel_act": "Median hours, release → action",
    "metrics.seizures": "Seizure totals",
    "metrics.by_month": "Seizures by month: {substance} ({unit})",
    "metrics.no_seizures": "No seizures reported yet.",
    "metrics.actions": "Actions reported",
    "chart.empty": "No data.",
  },
  es: {
    "app.title": "Vigía",
    "app.subtitle": "Vigilancia antidrogas — información compartida con la contraparte",
    "lang.label": "Idioma",
    "login.title": "Iniciar sesión",
    "login.username": "Usuario",
    "login.password": "Contraseña",
    "login.submit": "Entrar",
    "login.failed": "No se pudo iniciar sesión: {detail}",
    "logout": "Cerrar sesión",
    "session.expired": "Su sesión terminó. Inicie sesión de nuevo.",
    "user.as": "{name} ({role}, {agency})",
    "tab.sites": "Sitios",
    "tab.products": "Productos",
    "tab.metrics": "Indicadores",
    "loading": "Cargando…",
    "error": "Error: {detail}",
    "none": "—",
    "back": "← Volver a la lista",
    "yes": "sí",
    "no": "no",
    "map.basemap": "Países y estados",
    "map.aois": "Áreas autorizadas",
    "map.coverage": "Cobertura",
    "map.sites": "Sitios",
    "map.ce90": "Círculos CE90",
    "map.legend": "Leyenda",
    "map.details": "Detalles",
    "sites.title.staff": "Sitios candidatos, por probabilidad",
    "sites.title.partner": "Sitios compartidos con {agency}",
    "sites.empty": "No hay sitios que mostrar.",
    "sites.count": "{n} sitios",
    "sites.candidates_only": "Solo candidatos",
    "col.rank": "#",
    "col.site": "Sitio",
    "col.probability": "Probabilidad",
    "col.status": "Estado",
    "col.partner_status": "Estado de la contraparte",
    "col.indicators": "Indicadores",
    "col.last_seen": "Última observación",
    "col.product": "Producto",
    "col.kind": "Tipo",
    "col.state": "Estado",
    "col.author": "Autor",
    "col.created": "Creado",
    "col.released": "Entregado",
    "col.marking": "Clasificación",
    "col.released_to": "Entregado a",
    "col.substance": "Sustancia",
    "col.amount": "Cantidad",
    "col.unit": "Unidad",
    "col.time": "Hora",
    "col.source": "Fuente",
    "col.confidence": "Confianza",
    "col.chip": "Imagen",
    "col.term": "Término",
    "col.detail": "Detalle",
    "col.log_lr": "log RV",
    "col.date": "Fecha",
    "col.agency": "Dependencia",
    "col.seizures": "Aseguramientos",
    "site.title": "Sitio {id}",
    "site.location": "Ubicación (lat, lon)",
    "site.ce90": "CE90",
    "site.height": "Altura (elipsoidal)",
    "site.probability": "Probabilidad",
    "site.log_odds": "Log-momios",
    "site.status": "Estado",
    "site.partner_status": "Estado de la contraparte",
    "site.new": "Nuevo desde la pasada anterior",
    "site.previous_pass": "Pasada anterior",
    "site.first_seen": "Primera observación",
    "site.last_seen": "Última observación",
    "site.observations": "Observaciones",
    "site.passes": "Pasadas (nocturnas / vacías)",
    "site.sorties": "Salidas",
    "site.aoi": "Área autorizada",
    "site.vocabulary": "Vocabulario",
    "site.indicators": "Indicadores",
    "site.assessment": "Evaluación del analista",
    "site.chips": "Recortes de imagen",
    "site.products": "Productos",
    "site.explanation": "Por qué esta puntuación",
    "site.explanation.total": "Log-momios totales {lo} → probabilidad {p}",
    "site.evidence": "Evidencia",
    "site.evidence.none": "Sin filas de evidencia.",
    "site.actions": "Acciones de la contraparte",
    "site.actions.none": "Aún no hay acciones registradas.",
    "site.m": "{v} m",
    "draft.title": "Redactar un informe de sitio",
    "draft.assessment": "Evaluación",
    "draft.classification": "Clasificación",
    "draft.caveats": "Advertencias",
    "draft.releasable_to": "Divulgable a (códigos de país)",
    "draft.submit": "Guardar borrador",
    "draft.saved": "Borrador {id} guardado; un supervisor que no sea su autor puede entregarlo.",
    "products.title": "Productos",
    "products.empty": "No hay productos.",
    "products.approve": "Aprobar y entregar",
    "products.reject": "Rechazar",
    "products.agencies": "Dependencias",
    "products.reason": "Motivo",
    "products.own": "Borrador propio: otro supervisor debe entregarlo.",
    "products.approved": "Producto {id} entregado a {agencies}.",
    "products.name_agencies": "Indique las dependencias a las que se entrega.",
    "products.confirm_release": "¿Entregar {id} a {agencies}? Lo verán de inmediato.",
    "products.rejected": "Producto {id} rechazado.",
    "products.withdraw": "Retirar entrega",
    "products.withdraw_agencies": "Retirar de (todas si vacío)",
    "products.withdraw_reason": "Motivo del retiro",
    "products.give_reason": "Indique el motivo del retiro de la entrega.",
    "products.confirm_withdraw": "¿Retirar {id} de {agencies}? Perderán el acceso de inmediato.",
    "products.withdrawn_msg": "Producto {id} retirado de {agencies}.",
    "products.withdrawn_on": "Retirado el {when}",
    "products.withdrawn_from": "Retirado de {agency}",
    "products.open": "Abrir",
    "products.formats": "Formatos",
    "ack.button": "Acusar recibo",
    "ack.done": "Recibo acusado.",
    "action.title": "Registrar una acción",
    "action.kind": "Tipo de acción",
    "action.date": "Fecha",
    "action.lat": "Latitud",
    "action.lon": "Longitud",
    "action.notes": "Notas",
    "action.seizures": "Aseguramientos",
    "action.add_seizure": "Agregar un aseguramiento",
    "action.remove": "Quitar",
    "action.submit": "Registrar la acción",
    "action.recorded": "Acción registrada.",
    "action.no_seizures": "Este tipo de acción no lleva aseguramientos.",
    "metrics.title": "Indicadores",
    "metrics.scope.all": "Todas las dependencias",
    "metrics.scope.agency": "Dependencia {agency}",
    "metrics.funnel": "Sitios",
    "metrics.detected": "Detectados",
    "metrics.released": "Entregados",
    "metrics.acted_on": "Con acción",
    "metrics.median_det_rel": "Mediana de horas, detección → entrega",
    "metrics.median_rel_act": "Mediana de horas, entrega → acción",
    "metrics.seizures": "Total asegurado",
    "metrics.by_month": "Aseguramientos por mes: {substance} ({unit})",
    "metrics.no_seizures": "Aún no se reportan aseguramientos.",
    "metrics.actions": "Acciones reportadas",
    "chart.empty": "Sin datos.",
  },
};

const ENUMS = {
  role: {
    analyst: ["analyst", "analista"],
    supervisor: ["supervisor", "supervisor"],
    "partner-liaison": ["partner liaison", "enlace de la contraparte"],
    "partner-officer": ["partner officer", "oficial de la contraparte"],
  },
  status: {
    new: ["new", "nuevo"],
    active: ["active", "activo"],
    dormant: ["dormant", "inactivo"],
  },
  partner_status: {
    released: ["not yet acknowledged", "sin acuse"],
    acknowledged: ["acknowledged", "recibido"],
    inspected: ["inspected", "inspeccionado"],
    operation: ["operation", "operativo"],
    dismantled: ["lab dismantled", "laboratorio desmantelado"],
    nothing_found: ["nothing found", "sin hallazgos"],
  },
  action: {
    acknowledged: ["acknowledged receipt", "acuse de recibo"],
    inspection: ["inspection", "inspección"],
    operation: ["operation", "operativo"],
    lab_dismantled: ["lab dismantled", "laboratorio desmantelado"],
    nothing_found: ["nothing found", "sin hallazgos"],
  },
  substance: {
    fentanyl_pills: ["fentanyl pills", "pastillas de fentanilo"],
    fentanyl_powder: ["fentanyl powder", "fentanilo en polvo"],
    methamphetamine: ["methamphetamine", "metanfetamina"],
    precursor_chemical: ["precursor chemicals", "precursores químicos"],
  },
  unit: {
    count: ["pills", "pastillas"],
    kg: ["kg", "kg"],
    g: ["g", "g"],
    lb: ["lb", "lb"],
    L: ["L", "L"],
    gal: ["gal", "gal"],
  },
  product_kind: {
    site_report: ["site report", "informe de sitio"],
    sortie_summary: ["sortie summary", "resumen de salida"],
    digest: ["periodic digest", "resumen periódico"],
  },
  product_state: {
    draft: ["draft", "borrador"],
    released: ["released", "entregado"],
    rejected: ["rejected", "rechazado"],
    withdrawn: ["withdrawn", "retirado"],
  },
  classification: {
    UNCLASSIFIED: ["UNCLASSIFIED", "SIN CLASIFICAR"],
    RESTRICTED: ["RESTRICTED", "RESTRINGIDO"],
    CONFIDENTIAL: ["CONFIDENTIAL", "CONFIDENCIAL"],
    SECRET: ["SECRET", "SECRETO"],
    "TOP SECRET": ["TOP SECRET", "ALTO SECRETO"],
  },
  term: {
    prior: ["prior", "probabilidad previa"],
    repetition: ["repeat sightings", "avistamientos repetidos"],
    night_activity: ["night activity", "actividad nocturna"],
    absent_indicators: ["indicators not seen", "indicadores no vistos"],
    negative_evidence: ["looks that saw nothing", "pasadas sin hallazgos"],
  },
  source: {
    vmti: ["VMTI", "VMTI"],
    detector: ["detector", "detector"],
    analyst: ["analyst", "analista"],
    tip: ["tip", "denuncia"],
  },
};

let current = "en";
const listeners = new Set();

/** The language in use ('en' or 'es'). */
export function lang() {
  return current;
}

/** Switch language; listeners re-render what they show. */
export function setLang(value) {
  const next = LANGS.includes(value) ? value : "en";
  if (next === current) return;
  current = next;
  document.documentElement.lang = next;
  for (const fn of listeners) fn(next);
}

export function onLangChange(fn) {
  listeners.add(fn);
}

/** The string `key` in the current language, with {name} placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const s = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

/** The label of an enumerated value, e.g. tEnum("substance", "methamphetamine"). */
export function tEnum(name, value) {
  if (value === null || value === undefined || value === "") return t("none");
  const pair = ENUMS[name]?.[value];
  return pair ? pair[current === "es" ? 1 : 0] : String(value);
}

/** Values of an enumeration, in declaration order. */
export function enumValues(name) {
  return Object.keys(ENUMS[name] ?? {});
}

// Indicator labels come from the server in the language asked for (?lang=); codes seen without
// a label (evidence rows) are looked up among those.
const indicatorLabels = new Map();

/** Remember the labels of the indicators of `sites` ([{code, label}] each). */
export function learnIndicators(sites) {
  indicatorLabels.clear();
  for (const s of sites) {
    for (const i of s.indicators ?? []) {
      if (i && typeof i === "object" && i.label) indicatorLabels.set(i.code, i.label);
    }
  }
}

/** Label of an indicator given as {code, label} or as a bare code. */
export function indicatorLabel(indicator) {
  if (indicator && typeof indicator === "object") {
    return indicator.label ?? indicatorLabels.get(indicator.code) ?? String(indicator.code ?? "");
  }
  return indicatorLabels.get(indicator) ?? String(indicator ?? "");
}

/** Fill [data-i18n] text and [data-i18n-placeholder] attributes under `root`. */
export function translateStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
  document.title = `${t("app.title")} — ${t("app.subtitle")}`;
}

/** Both string tables (the test checks that every key exists in both languages). */
export const _STRINGS = STRINGS;

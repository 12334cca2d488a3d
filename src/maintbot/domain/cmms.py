"""The maintenance (CMMS) domain: what the tables mean, how people name things, what the glossary says.

SQL fragments use table aliases (s, e, t, p, w, sp, wp, r) and the placeholders `{today}`, `{true}` and
`{false}`, which the compiler fills for the dialect. Words are matched case-, accent- and plural-insensitively.
"""

from __future__ import annotations

from maintbot.domain.model import (
    Attribute,
    Concept,
    Condition,
    Domain,
    Join,
    Label,
    Measure,
    Subject,
    Table,
    Value,
    words,
)

OPEN_STATUSES = "('open','in_progress','on_hold')"


def _value(
    code: str, en: str, es: str, said: tuple[str, str], *, qualified: tuple[str, str] = ("", "")
) -> Value:
    return Value(code=code, label=Label(en=en, es=es), said=words(*said), qualified=words(*qualified))


TABLES = (
    Table("sites", "s", Label("site", "planta", "sites", "plantas", es_feminine=True)),
    Table("equipment", "e", Label("piece of equipment", "equipo", "pieces of equipment", "equipos")),
    Table("technicians", "t", Label("technician", "técnico", "technicians", "técnicos")),
    Table(
        "maintenance_plans",
        "p",
        Label("maintenance plan", "plan de mantenimiento", "maintenance plans", "planes de mantenimiento"),
    ),
    Table(
        "work_orders",
        "w",
        Label("work order", "orden de trabajo", "work orders", "órdenes de trabajo", es_feminine=True),
    ),
    Table("spare_parts", "sp", Label("spare part", "repuesto", "spare parts", "repuestos")),
    Table("work_order_parts", "wp", Label("part used", "repuesto usado", "parts used", "repuestos usados")),
    Table(
        "sensor_readings",
        "r",
        Label("sensor reading", "lectura", "sensor readings", "lecturas", es_feminine=True),
    ),
)

# Order matters: when two paths are equally short, the first listed wins (work orders reach their site
# through their equipment, not through their technician).
JOINS = (
    Join("equipment", "sites", "s.id = e.site_id"),
    Join("work_orders", "equipment", "e.id = w.equipment_id"),
    Join("maintenance_plans", "equipment", "e.id = p.equipment_id"),
    Join("sensor_readings", "equipment", "e.id = r.equipment_id"),
    Join("work_orders", "technicians", "t.id = w.technician_id"),
    Join("work_orders", "maintenance_plans", "p.id = w.plan_id"),
    Join("technicians", "sites", "s.id = t.site_id"),
    Join("spare_parts", "sites", "s.id = sp.site_id"),
    Join("work_order_parts", "work_orders", "w.id = wp.work_order_id"),
    Join("work_order_parts", "spare_parts", "sp.id = wp.part_id"),
)

SITE_NOUNS = words(
    "site|plant|facility|location|factory|mill", "planta|sitio|sede|instalación|fábrica|ubicación"
)

ATTRIBUTES = (
    Attribute(
        "site",
        "sites",
        "name",
        Label("site", "planta", "sites", "plantas", es_feminine=True),
        SITE_NOUNS,
        from_data=True,
    ),
    Attribute(
        "country",
        "sites",
        "country",
        Label("country", "país", "countries", "países"),
        words("country|nation", "país|nación"),
        from_data=True,
        values=(
            _value("Mexico", "Mexico", "México", ("mexico", "méxico")),
            _value("Colombia", "Colombia", "Colombia", ("colombia", "colombia")),
            _value("Spain", "Spain", "España", ("spain", "españa")),
            _value(
                "United States",
                "United States",
                "Estados Unidos",
                ("united states|usa|u.s.a|america", "estados unidos|eeuu|ee uu|eua|usa"),
            ),
        ),
    ),
    Attribute(
        "equipment_type",
        "equipment",
        "equipment_type",
        Label("equipment type", "tipo de equipo", "equipment types", "tipos de equipo"),
        words(
            "equipment type|type of equipment|asset type|machine type|kind of equipment|type|kind",
            "tipo de equipo|tipo de máquina|clase de equipo|tipo|clase",
        ),
        values=(
            _value("pump", "pump", "bomba", ("pump", "bomba|bomba de agua")),
            _value("compressor", "compressor", "compresor", ("compressor|air compressor", "compresor")),
            _value("motor", "motor", "motor", ("motor|electric motor", "motor|motor eléctrico")),
            _value(
                "conveyor",
                "conveyor",
                "transportador",
                (
                    "conveyor|conveyor belt|belt conveyor",
                    "transportador|banda transportadora|cinta transportadora|transportadora|conveyor",
                ),
            ),
            _value("boiler", "boiler", "caldera", ("boiler", "caldera")),
            _value("chiller", "chiller", "enfriador", ("chiller|cooler", "enfriador|chiller|enfriadora")),
            _value("generator", "generator", "generador", ("generator|genset", "generador|planta eléctrica")),
            _value(
                "cnc_machine",
                "CNC machine",
                "máquina CNC",
                (
                    "cnc|cnc machine|lathe|milling machine|machining center",
                    "cnc|máquina cnc|torno|torno cnc|fresadora|centro de maquinado",
                ),
            ),
            _value("press", "press", "prensa", ("press|hydraulic press", "prensa|prensa hidráulica")),
            _value(
                "forklift",
                "forklift",
                "montacargas",
                ("forklift|fork lift|lift truck", "montacargas|carretilla elevadora|grúa horquilla"),
            ),
        ),
    ),
    Attribute(
        "area",
        "equipment",
        "area",
        Label("area", "área", "areas", "áreas"),
        words("area|zone|section|department", "área|zona|sección|departamento"),
        values=(
            _value(
                "production",
                "production",
                "producción",
                ("production|production line", "producción|línea de producción"),
            ),
            _value(
                "packaging",
                "packaging",
                "empaque",
                ("packaging|packing", "empaque|envasado|embalaje|empaquetado"),
            ),
            _value(
                "utilities",
                "utilities",
                "servicios",
                ("utilities|utility", "servicios auxiliares|utilidades|servicios generales"),
            ),
            _value("warehouse", "warehouse", "almacén", ("warehouse|storage", "almacén|bodega")),
            _value("workshop", "workshop", "taller", ("workshop|shop", "taller")),
        ),
    ),
    Attribute(
        "criticality",
        "equipment",
        "criticality",
        Label("criticality", "criticidad", "criticalities", "criticidades", es_feminine=True),
        words("criticality|criticality level|critical level", "criticidad|nivel de criticidad"),
        values=(
            _value(
                "high",
                "high",
                "alta",
                (
                    "critical|highly critical|high-criticality|critical equipment",
                    "crítico|equipo crítico|altamente crítico",
                ),
                qualified=("high", "alta|alto"),
            ),
            _value("medium", "medium", "media", ("", ""), qualified=("medium", "media|medio")),
            _value(
                "low",
                "low",
                "baja",
                ("non critical|noncritical|non-critical", "no crítico"),
                qualified=("low", "baja|bajo"),
            ),
        ),
    ),
    Attribute(
        "equipment_status",
        "equipment",
        "status",
        Label("status", "estado", "statuses", "estados"),
        words("status|state|condition|equipment status", "estado|estatus|situación|estado del equipo"),
        values=(
            _value(
                "operational",
                "operational",
                "operativo",
                (
                    "operational|in service|working|running|operating|in operation|functional|up and running|available",
                    "operativo|en servicio|funcionando|en operación|operando|en funcionamiento|operacional|disponible|en marcha",
                ),
            ),
            _value(
                "under_maintenance",
                "under maintenance",
                "en mantenimiento",
                (
                    "under maintenance|in maintenance|being maintained|being repaired|under repair|in repair",
                    "en mantenimiento|en reparación|bajo mantenimiento|siendo reparado|en taller",
                ),
            ),
            _value(
                "out_of_service",
                "out of service",
                "fuera de servicio",
                (
                    "out of service|down|broken|not working|out of order|stopped|offline|broken down|inoperative",
                    "fuera de servicio|parado|detenido|averiado|descompuesto|sin funcionar|fuera de operación|no operativo|inoperativo|dañado|caído",
                ),
            ),
            _value(
                "decommissioned",
                "decommissioned",
                "dado de baja",
                (
                    "decommissioned|retired|scrapped|disposed|written off",
                    "dado de baja|desmantelado|retirado|fuera de uso|de baja|desincorporado",
                ),
            ),
        ),
    ),
    Attribute(
        "manufacturer",
        "equipment",
        "manufacturer",
        Label("manufacturer", "fabricante", "manufacturers", "fabricantes"),
        words("manufacturer|brand|make|maker|oem", "fabricante|marca"),
        from_data=True,
    ),
    Attribute(
        "specialty",
        "technicians",
        "specialty",
        Label("specialty", "especialidad", "specialties", "especialidades", es_feminine=True),
        words("specialty|speciality|skill|trade|discipline", "especialidad|oficio|disciplina"),
        values=(
            _value("mechanical", "mechanical", "mecánica", ("mechanical|mechanic", "mecánico|mecánica")),
            _value(
                "electrical",
                "electrical",
                "eléctrica",
                ("electrical|electrician|electric", "eléctrico|electricista"),
            ),
            _value(
                "instrumentation",
                "instrumentation",
                "instrumentación",
                (
                    "instrumentation|instrument|instrumentist|instrument technician",
                    "instrumentación|instrumentista",
                ),
            ),
            _value(
                "hvac",
                "HVAC",
                "climatización",
                (
                    "hvac|air conditioning|refrigeration",
                    "hvac|climatización|aire acondicionado|refrigeración",
                ),
            ),
            _value(
                "general",
                "general",
                "general",
                ("general|generalist|general maintenance", "general|generalista"),
            ),
        ),
    ),
    Attribute(
        "shift",
        "technicians",
        "shift",
        Label("shift", "turno", "shifts", "turnos"),
        words("shift|work shift", "turno|jornada"),
        values=(
            _value(
                "morning",
                "morning",
                "mañana",
                ("morning|day shift|first shift|mornings", "matutino|diurno"),
                qualified=("morning|day", "mañana|matutino|día"),
            ),
            _value(
                "afternoon",
                "afternoon",
                "tarde",
                ("afternoon|second shift|evening|afternoons", "vespertino"),
                qualified=("afternoon|evening", "tarde|vespertino"),
            ),
            _value(
                "night",
                "night",
                "noche",
                ("night|third shift|overnight|nights|graveyard", "nocturno"),
                qualified=("night", "noche|nocturno"),
            ),
        ),
    ),
    Attribute(
        "task",
        "maintenance_plans",
        "task",
        Label("task", "tarea", "tasks", "tareas", es_feminine=True),
        words("task|task type|type of task|activity|kind of task", "tarea|tipo de tarea|actividad"),
        values=(
            _value(
                "lubrication",
                "lubrication",
                "lubricación",
                ("lubrication|greasing|lube|oiling", "lubricación|engrase|engrasado"),
            ),
            _value(
                "filter_replacement",
                "filter replacement",
                "cambio de filtro",
                (
                    "filter replacement|filter change|replacing filters|filter",
                    "cambio de filtro|reemplazo de filtro|filtro",
                ),
            ),
            _value(
                "inspection",
                "inspection",
                "inspección",
                ("inspection|visual inspection|check", "inspección|revisión"),
            ),
            _value("calibration", "calibration", "calibración", ("calibration", "calibración")),
            _value(
                "vibration_analysis",
                "vibration analysis",
                "análisis de vibración",
                (
                    "vibration analysis|vibration analyses|vibration monitoring",
                    "análisis de vibración|análisis de vibraciones|análisis vibracional",
                ),
            ),
            _value(
                "belt_replacement",
                "belt replacement",
                "cambio de banda",
                (
                    "belt replacement|belt change|replacing belts",
                    "cambio de banda|cambio de correa|reemplazo de banda|reemplazo de correa",
                ),
            ),
            _value("cleaning", "cleaning", "limpieza", ("cleaning", "limpieza")),
            _value(
                "overhaul",
                "overhaul",
                "reacondicionamiento",
                (
                    "overhaul|major overhaul|rebuild",
                    "overhaul|reacondicionamiento|revisión general|mantenimiento mayor",
                ),
            ),
        ),
    ),
    Attribute(
        "work_order_type",
        "work_orders",
        "type",
        Label("work order type", "tipo de orden", "work order types", "tipos de orden"),
        words(
            "work order type|order type|maintenance type|type of maintenance|type of work order|type|kind",
            "tipo de orden|tipo de mantenimiento|tipo de orden de trabajo|tipo|clase",
        ),
        values=(
            _value(
                "preventive",
                "preventive",
                "preventivo",
                ("preventive|preventative|planned|pm", "preventivo|planificado"),
            ),
            _value(
                "corrective",
                "corrective",
                "correctivo",
                ("corrective|reactive|unplanned", "correctivo|reactivo|no planificado"),
            ),
            _value("predictive", "predictive", "predictivo", ("predictive|condition based", "predictivo")),
            _value("inspection", "inspection", "inspección", ("inspection", "inspección")),
        ),
    ),
    Attribute(
        "priority",
        "work_orders",
        "priority",
        Label("priority", "prioridad", "priorities", "prioridades", es_feminine=True),
        words("priority|urgency|priority level", "prioridad|urgencia|nivel de prioridad"),
        values=(
            _value("low", "low", "baja", ("", ""), qualified=("low", "baja|bajo")),
            _value("medium", "medium", "media", ("", ""), qualified=("medium|normal", "media|medio|normal")),
            _value("high", "high", "alta", ("", ""), qualified=("high", "alta|alto")),
            _value(
                "critical",
                "critical",
                "crítica",
                ("critical|urgent|emergency", "crítico|urgente|emergencia"),
                qualified=("critical", "crítica|crítico"),
            ),
        ),
    ),
    Attribute(
        "work_order_status",
        "work_orders",
        "status",
        Label("status", "estado", "statuses", "estados"),
        words("status|state|work order status|order status", "estado|estatus|estado de orden"),
        values=(
            _value(
                "open",
                "open",
                "abierta",
                ("not started|unstarted", "sin iniciar|no iniciado"),
                qualified=("open", "abierto|abierta"),
            ),
            _value(
                "in_progress",
                "in progress",
                "en progreso",
                (
                    "in progress|ongoing|being worked on|underway|started|in execution",
                    "en progreso|en curso|en proceso|en ejecución|iniciado",
                ),
            ),
            _value(
                "on_hold",
                "on hold",
                "en espera",
                (
                    "on hold|paused|waiting|blocked|suspended|held",
                    "en espera|pausado|suspendido|bloqueado|detenido",
                ),
            ),
            _value(
                "completed",
                "completed",
                "completada",
                (
                    "completed|complete|done|finished|closed|resolved|fixed|completes|closes|finishes",
                    "completado|terminado|cerrado|finalizado|concluido|resuelto|realizado|hecho|completó|completaron|"
                    "cerró|cerraron|terminó|terminaron|finalizó|finalizaron|resolvió|resolvieron|realizó|realizaron",
                ),
            ),
            _value(
                "cancelled",
                "cancelled",
                "cancelada",
                ("cancelled|canceled|cancelled orders", "cancelado|anulado"),
            ),
        ),
    ),
    Attribute(
        "failure_mode",
        "work_orders",
        "failure_mode",
        Label("failure mode", "modo de falla", "failure modes", "modos de falla"),
        words(
            "failure mode|failure type|type of failure|kind of failure|failure cause|cause of failure|cause|root cause|mode of failure|failure reason|mode|most common failure|most frequent failure|most common failures",
            "modo de falla|tipo de falla|modo de fallo|tipo de fallo|causa de falla|causa|causa raíz|modo de avería|tipo de avería|motivo de falla|modo|falla más común|fallo más común|falla más frecuente|fallas más comunes|avería más común",
        ),
        values=(
            _value(
                "bearing_failure",
                "bearing failure",
                "falla de rodamiento",
                (
                    "bearing failure|bearing fault|bearing|bearing problem",
                    "falla de rodamiento|falla de rodamientos|rodamiento|cojinete|falla de cojinete|fallo de rodamiento",
                ),
            ),
            _value(
                "overheating",
                "overheating",
                "sobrecalentamiento",
                ("overheating|overheat|overheated", "sobrecalentamiento|sobrecalentado|recalentamiento"),
            ),
            _value("leak", "leak", "fuga", ("leak|leakage|leaking", "fuga|goteo|filtración")),
            _value(
                "electrical_fault",
                "electrical fault",
                "falla eléctrica",
                (
                    "electrical fault|electrical failure|short circuit|electrical problem|electric fault",
                    "falla eléctrica|fallo eléctrico|cortocircuito|corto circuito|problema eléctrico|avería eléctrica",
                ),
            ),
            _value(
                "misalignment",
                "misalignment",
                "desalineación",
                ("misalignment|misaligned", "desalineación|desalineamiento|desalineado"),
            ),
            _value("wear", "wear", "desgaste", ("wear|worn|wear and tear", "desgaste|desgastado")),
            _value(
                "blockage",
                "blockage",
                "bloqueo",
                (
                    "blockage|clog|clogging|clogged|jam|obstruction",
                    "bloqueo|obstrucción|atasco|atascamiento|taponamiento",
                ),
            ),
            _value(
                "sensor_fault",
                "sensor fault",
                "falla de sensor",
                (
                    "sensor fault|sensor failure|sensor error|faulty sensor",
                    "falla de sensor|fallo de sensor|falla del sensor|error de sensor",
                ),
            ),
        ),
    ),
    Attribute(
        "category",
        "spare_parts",
        "category",
        Label("category", "categoría", "categories", "categorías", es_feminine=True),
        words(
            "category|part category|part type|type of part|kind of part|type|family",
            "categoría|tipo de repuesto|familia|tipo",
        ),
        values=(
            _value("bearing", "bearing", "rodamiento", ("bearing", "rodamiento|cojinete")),
            _value("filter", "filter", "filtro", ("filter", "filtro")),
            _value("belt", "belt", "banda", ("belt", "banda|correa")),
            _value("seal", "seal", "sello", ("seal|gasket|o ring", "sello|junta|retén|empaquetadura")),
            _value(
                "lubricant", "lubricant", "lubricante", ("lubricant|oil|grease", "lubricante|aceite|grasa")
            ),
            _value(
                "electrical",
                "electrical",
                "eléctrico",
                (
                    "electrical|electrical part|electrical component",
                    "eléctrico|material eléctrico|componente eléctrico",
                ),
            ),
            _value("sensor", "sensor", "sensor", ("sensor", "sensor")),
            _value("valve", "valve", "válvula", ("valve", "válvula")),
        ),
    ),
    Attribute(
        "supplier",
        "spare_parts",
        "supplier",
        Label("supplier", "proveedor", "suppliers", "proveedores"),
        words("supplier|vendor|provider", "proveedor|suplidor"),
        from_data=True,
    ),
    Attribute(
        "metric",
        "sensor_readings",
        "metric",
        Label("metric", "variable", "metrics", "variables", es_feminine=True),
        words(
            "metric|variable|measurement type|sensor type", "métrica|variable|tipo de medición|tipo de sensor"
        ),
        values=(
            _value("temperature_c", "temperature", "temperatura", ("", "")),
            _value("vibration_mm_s", "vibration", "vibración", ("", "")),
            _value("pressure_bar", "pressure", "presión", ("", "")),
            _value("current_a", "current", "corriente", ("", "")),
        ),
    ),
)

_NOT_DECOMMISSIONED = Condition("e.status <> 'decommissioned'", ("equipment",))
_COMPLETED = Condition("w.status = 'completed'", ("work_orders",))
_CORRECTIVE = Condition("w.type = 'corrective'", ("work_orders",))

SUBJECTS = (
    Subject(
        "equipment",
        "equipment",
        Label("piece of equipment", "equipo", "pieces of equipment", "equipos"),
        words(
            "equipment|equipments|machine|asset|piece of equipment|unit|device|machinery|item of equipment",
            "equipo|máquina|maquinaria|unidad|aparato",
        ),
        key_column="e.id",
        list_columns=(
            ("e.tag", "tag"),
            ("e.name", "name"),
            ("e.equipment_type", "equipment_type"),
            ("e.criticality", "criticality"),
            ("e.status", "status"),
        ),
        date_column="e.install_date",
        defaults=(("equipment_status", _NOT_DECOMMISSIONED),),
        group_columns=(("e.tag", "tag"), ("e.name", "name")),
    ),
    Subject(
        "work_orders",
        "work_orders",
        Label("work order", "orden de trabajo", "work orders", "órdenes de trabajo", es_feminine=True),
        words(
            "work order|order|wo|ticket|job|maintenance order|maintenance work order|maintenance request",
            "orden de trabajo|orden|ot|ticket|trabajo|orden de mantenimiento|solicitud de mantenimiento",
        ),
        key_column="w.id",
        list_columns=(
            ("w.code", "code"),
            ("w.title", "title"),
            ("w.type", "type"),
            ("w.priority", "priority"),
            ("w.status", "status"),
            ("w.due_date", "due_date"),
        ),
        date_column="w.created_at",
        due_column="w.due_date",
        group_columns=(("w.code", "code"), ("w.title", "title")),
    ),
    Subject(
        "failures",
        "work_orders",
        Label("failure", "falla", "failures", "fallas", es_feminine=True),
        words(
            "failure|breakdown|fault|corrective work order|corrective order|corrective maintenance|malfunction|"
            "incident|fail|failed|broke down|broken down",
            "falla|avería|fallo|orden correctiva|mantenimiento correctivo|incidente|descompostura|fallan|fallaron|"
            "falló|se averían|se descomponen|se rompen",
        ),
        key_column="w.id",
        list_columns=(
            ("w.code", "code"),
            ("w.title", "title"),
            ("w.failure_mode", "failure_mode"),
            ("w.status", "status"),
            ("w.created_at", "created_at"),
        ),
        date_column="w.created_at",
        conditions=(_CORRECTIVE,),
        group_columns=(("w.code", "code"), ("w.title", "title")),
    ),
    Subject(
        "plans",
        "maintenance_plans",
        Label("maintenance plan", "plan de mantenimiento", "maintenance plans", "planes de mantenimiento"),
        words(
            "maintenance plan|plan|preventive maintenance|pm|scheduled maintenance|maintenance task|task|"
            "maintenance schedule|preventive plan|maintenance routine|routine|maintenance",
            "plan de mantenimiento|plan|mantenimiento preventivo|mantenimiento programado|tarea de mantenimiento|"
            "tarea|rutina|rutina de mantenimiento|preventivo|mantenimiento",
        ),
        key_column="p.id",
        list_columns=(
            ("e.tag", "tag"),
            ("p.task", "task"),
            ("p.next_due", "next_due"),
            ("p.last_performed", "last_performed"),
        ),
        date_column="p.next_due",
        due_column="p.next_due",
        defaults=(("active", Condition("p.active = {true}", ("maintenance_plans",))),),
        group_columns=(("e.tag", "tag"), ("p.task", "task")),
    ),
    Subject(
        "technicians",
        "technicians",
        Label("technician", "técnico", "technicians", "técnicos"),
        words(
            "technician|tech|mechanic|worker|staff|employee|maintenance staff|crew member|person|people",
            "técnico|operario|trabajador|personal|empleado|persona",
        ),
        key_column="t.id",
        list_columns=(("t.name", "name"), ("t.specialty", "specialty"), ("t.shift", "shift")),
        # No default: the glossary says nothing about inactive technicians, so only "active" (or
        # "trabajan", "working") filters them.
        group_columns=(("t.name", "technician"),),
    ),
    Subject(
        "spare_parts",
        "spare_parts",
        Label("spare part", "repuesto", "spare parts", "repuestos"),
        words(
            "spare part|part|spare|spares|spare parts inventory|inventory item|stock item|component|inventory",
            "repuesto|refacción|pieza|pieza de repuesto|recambio|insumo|componente|inventario de repuestos|inventario|parte",
        ),
        key_column="sp.id",
        list_columns=(
            ("sp.part_number", "part_number"),
            ("sp.name", "name"),
            ("sp.quantity_on_hand", "quantity_on_hand"),
            ("sp.reorder_point", "reorder_point"),
        ),
        group_columns=(("sp.part_number", "part_number"), ("sp.name", "name")),
    ),
    Subject(
        "readings",
        "sensor_readings",
        Label("sensor reading", "lectura", "sensor readings", "lecturas", es_feminine=True),
        words(
            "reading|sensor reading|measurement|sensor data|sensor measurement|sensor",
            "lectura|medición|lectura de sensor|dato de sensor|sensor|medida",
        ),
        key_column="r.id",
        list_columns=(
            ("e.tag", "tag"),
            ("r.metric", "metric"),
            ("r.recorded_at", "recorded_at"),
            ("r.value", "value"),
        ),
        date_column="r.recorded_at",
    ),
    Subject(
        "sites",
        "sites",
        Label("site", "planta", "sites", "plantas", es_feminine=True),
        SITE_NOUNS,
        key_column="s.id",
        list_columns=(("s.name", "name"), ("s.city", "city"), ("s.country", "country")),
        group_columns=(("s.name", "site"),),
    ),
)


def _sensor(key: str, metric: str, label: Label, nouns: tuple[str, str], unit: str) -> Measure:
    return Measure(
        key,
        "sensor_readings",
        label,
        words(*nouns),
        "avg",
        "r.value",
        f"{key}_{unit_alias(unit)}",
        unit=unit,
        conditions=(Condition(f"r.metric = '{metric}'", ("sensor_readings",)),),
        date_column="r.recorded_at",
    )


def unit_alias(unit: str) -> str:
    """A unit as it may appear in a column name: '°C' -> 'c', 'mm/s' -> 'mm_s'."""
    return unit.replace("°", "").replace("/", "_").lower()


MEASURES = (
    Measure(
        "maintenance_cost",
        "work_orders",
        Label("maintenance cost", "costo de mantenimiento"),
        words(
            "maintenance cost|cost|spend|spending|expense|expenditure|maintenance spend|total cost|money spent|"
            "maintenance expense|how much did we spend|how much was spent|spent on maintenance|spend on maintenance|"
            "spending on maintenance|expensive|costly|costliest|most expensive|cost us|did it cost|spent|spend",
            "costo de mantenimiento|costo|coste|gasto|gasto de mantenimiento|cuánto gastamos|cuánto se gastó|"
            "inversión en mantenimiento|erogación|costo total|gastamos en mantenimiento|gasto en mantenimiento|"
            "gastado en mantenimiento|se gastó en mantenimiento|cuánto gastamos en mantenimiento|caro|costoso|"
            "costado|ha costado|cuesta|costó|cuestan|costaron|gastó|gastaron|gasta|gastamos",
        ),
        "sum",
        "w.labor_cost + w.parts_cost",
        "maintenance_cost_usd",
        unit="USD",
        conditions=(_COMPLETED,),
        date_column="w.completed_at",
    ),
    Measure(
        "labor_cost",
        "work_orders",
        Label("labor cost", "costo de mano de obra"),
        words(
            "labor cost|labour cost|cost of labor|cost of labour|manpower cost|labor spend|labor and parts|labour and parts|labor versus parts|labor vs parts|labour versus parts|labor or parts",
            "costo de mano de obra|costo laboral|gasto de mano de obra|mano de obra|mano de obra y repuestos|mano de obra y refacciones|mano de obra contra repuestos|mano de obra versus repuestos|mano de obra vs repuestos",
        ),
        "sum",
        "w.labor_cost",
        "labor_cost_usd",
        unit="USD",
        conditions=(_COMPLETED,),
        date_column="w.completed_at",
    ),
    Measure(
        "parts_cost",
        "work_orders",
        Label("parts cost", "costo de repuestos"),
        words(
            "parts cost|cost of parts|spare parts cost|cost of spare parts|material cost|materials cost|parts spend|labor and parts|labour and parts|labor versus parts|labor vs parts|labour versus parts|labor or parts",
            "costo de repuestos|costo de materiales|gasto en repuestos|costo de refacciones|costo de partes|gasto de repuestos|mano de obra y repuestos|mano de obra y refacciones|mano de obra contra repuestos|mano de obra versus repuestos|mano de obra vs repuestos",
        ),
        "sum",
        "w.parts_cost",
        "parts_cost_usd",
        unit="USD",
        conditions=(_COMPLETED,),
        date_column="w.completed_at",
    ),
    Measure(
        "downtime",
        "work_orders",
        Label("downtime", "tiempo de paro"),
        words(
            "downtime|down time|downtime hours|hours of downtime|hours down|stoppage time|outage time|outage|lost hours",
            "tiempo de paro|tiempo muerto|tiempo parado|horas de paro|tiempo de inactividad|paro|horas paradas|"
            "tiempo fuera de servicio|tiempo detenido|indisponibilidad|horas de parada|tiempo de parada|tiempo en parada|"
            "horas en parada",
        ),
        "sum",
        "w.downtime_hours",
        "downtime_hours",
        unit="h",
        conditions=(_COMPLETED,),
        date_column="w.completed_at",
    ),
    Measure(
        "labor_hours",
        "work_orders",
        Label("labor hours", "horas de mano de obra"),
        words(
            "labor hours|labour hours|man hours|work hours|hours worked|working hours|labor time|hours of work",
            "horas de trabajo|horas hombre|horas de mano de obra|horas trabajadas|horas de labor",
        ),
        "sum",
        "w.labor_hours",
        "labor_hours",
        unit="h",
        conditions=(_COMPLETED,),
        date_column="w.completed_at",
    ),
    Measure(
        "mttr",
        "work_orders",
        Label("MTTR", "MTTR"),
        words(
            "mttr|mean time to repair|mean time to recovery|mean time to restore|average repair time|"
            "average time to repair|mean repair time|repair time|time to repair",
            "mttr|tiempo medio de reparación|tiempo promedio de reparación|tiempo medio para reparar|"
            "tiempo de reparación|tiempo promedio para reparar|tiempo medio de reparo",
        ),
        "avg",
        "w.downtime_hours",
        "mttr_hours",
        unit="h",
        conditions=(_COMPLETED, _CORRECTIVE),
        date_column="w.completed_at",
        fixed_agg=True,
    ),
    Measure(
        "stock_value",
        "spare_parts",
        Label("inventory value", "valor del inventario"),
        words(
            "inventory value|stock value|value of inventory|value of stock|inventory worth|value of spare parts|"
            "spare parts value|inventory valuation|value|worth",
            "valor del inventario|valor de inventario|valor de los repuestos|valor del stock|valor en inventario|"
            "valor de repuestos|valor|valorización|valor en almacén|cuánto vale|cuanto vale|cuánto valen",
        ),
        "sum",
        "sp.quantity_on_hand * sp.unit_cost",
        "stock_value_usd",
        unit="USD",
    ),
    Measure(
        "stock_quantity",
        "spare_parts",
        Label("units in stock", "unidades en existencia"),
        words(
            "quantity on hand|units in stock|stock level|stock quantity|quantity in stock|units on hand|stock",
            "cantidad en existencia|existencias|unidades en stock|unidades en inventario|nivel de stock|stock|"
            "cantidad disponible|unidades disponibles",
        ),
        "sum",
        "sp.quantity_on_hand",
        "quantity_on_hand",
        unit="units",
    ),
    Measure(
        "purchase_cost",
        "equipment",
        Label("purchase cost", "costo de compra"),
        words(
            "purchase cost|purchase price|acquisition cost|equipment value|asset value|purchase value|capex",
            "costo de compra|precio de compra|costo de adquisición|valor de compra|valor de activos|valor del equipo",
        ),
        "sum",
        "e.purchase_cost",
        "purchase_cost_usd",
        unit="USD",
    ),
    Measure(
        "hourly_rate",
        "technicians",
        Label("hourly rate", "tarifa por hora"),
        words(
            "hourly rate|hourly cost|rate per hour|pay rate|labor rate|wage|cost per hour",
            "tarifa por hora|tarifa horaria|costo por hora|salario por hora|tarifa|sueldo por hora",
        ),
        "avg",
        "t.hourly_rate",
        "hourly_rate_usd",
        unit="USD/h",
    ),
    Measure(
        "estimated_hours",
        "maintenance_plans",
        Label("estimated hours", "horas estimadas"),
        words(
            "estimated hours|planned hours|estimated time|scheduled hours|workload|estimated effort",
            "horas estimadas|horas planificadas|tiempo estimado|carga de trabajo|horas programadas",
        ),
        "sum",
        "p.estimated_hours",
        "estimated_hours",
        unit="h",
        date_column="p.next_due",
    ),
    Measure(
        "parts_used",
        "work_order_parts",
        Label("parts used", "repuestos usados"),
        words(
            "parts used|parts consumed|part consumption|parts consumption|units used|quantity used|consumption|usage",
            "repuestos usados|repuestos utilizados|consumo de repuestos|consumo|piezas usadas|cantidad usada|repuestos consumidos",
        ),
        "sum",
        "wp.quantity",
        "units_used",
        unit="units",
        date_column="w.created_at",
    ),
    _sensor(
        "temperature",
        "temperature_c",
        Label("temperature", "temperatura"),
        ("temperature|temp", "temperatura"),
        "°C",
    ),
    _sensor(
        "vibration",
        "vibration_mm_s",
        Label("vibration", "vibración"),
        ("vibration|vibration level", "vibración"),
        "mm/s",
    ),
    _sensor("pressure", "pressure_bar", Label("pressure", "presión"), ("pressure", "presión"), "bar"),
    _sensor(
        "current",
        "current_a",
        Label("current", "corriente"),
        ("current draw|electric current|amperage|amps|current", "corriente|amperaje|consumo eléctrico"),
        "A",
    ),
)

_ACTIVE_PLAN = "p.active = {true}"

CONCEPTS = (
    Concept(
        "needs_maintenance",
        Label("that need maintenance", "que necesitan mantenimiento"),
        words(
            "needs maintenance|need maintenance|needing maintenance|due for maintenance|maintenance due|"
            "requires maintenance|require maintenance|requiring maintenance|pending maintenance|maintenance pending|"
            "due maintenance|needs service|need service|due for service|needs servicing|need servicing|"
            "needs to be serviced|need to be serviced|needs preventive maintenance|need preventive maintenance",
            "necesitan mantenimiento|necesita mantenimiento|requieren mantenimiento|requiere mantenimiento|"
            "mantenimiento pendiente|con mantenimiento pendiente|pendiente de mantenimiento|toca mantenimiento|"
            "les toca mantenimiento|le toca mantenimiento|necesitan servicio|requieren servicio|"
            "deben recibir mantenimiento|debe recibir mantenimiento|necesitan mantenimiento preventivo",
        ),
        conditions=(
            (
                "maintenance_plans",
                Condition(f"{_ACTIVE_PLAN} AND p.next_due <= {{today}}", ("maintenance_plans",)),
            ),
        ),
        implies_subject="equipment",
    ),
    Concept(
        "overdue",
        Label("overdue", "vencidos"),
        words(
            "overdue|past due|late|behind schedule|delayed|expired|past their due date|past the due date|not done on time",
            "vencido|atrasado|retrasado|con retraso|pasado de fecha|fuera de plazo|expirado|demorado|fuera de fecha",
        ),
        # Plans first: "equipment with overdue maintenance" is about plans unless work orders are the fact.
        conditions=(
            (
                "maintenance_plans",
                Condition(f"{_ACTIVE_PLAN} AND p.next_due < {{today}}", ("maintenance_plans",)),
            ),
            (
                "work_orders",
                Condition(f"w.status IN {OPEN_STATUSES} AND w.due_date < {{today}}", ("work_orders",)),
            ),
        ),
        implies_subject="plans",
    ),
    Concept(
        "open",
        Label("open", "abiertas"),
        words(
            "open|opened|pending|backlog|outstanding|unresolved|not completed|not closed|incomplete|unfinished|"
            "in the backlog|still open|not yet completed|not yet closed|have not been closed|haven't been closed|"
            "not been completed|not finished yet|what's the backlog|what is the backlog|how big is the backlog",
            "abierto|pendiente|sin cerrar|no cerrado|backlog|sin completar|sin terminar|por atender|incompleto|"
            "en backlog|aún abierto|todavía abierto|no se han cerrado|no se ha cerrado|no han sido cerradas|"
            "no cerrado|no se han completado|no completado|aún no se cierran|no terminado|no finalizado|"
            "cuál es el backlog|de cuánto es el backlog",
        ),
        conditions=(("work_orders", Condition(f"w.status IN {OPEN_STATUSES}", ("work_orders",))),),
        implies_subject="work_orders",
    ),
    Concept(
        "low_stock",
        Label("at or below their reorder point", "en o por debajo de su punto de reorden"),
        words(
            "low stock|low on stock|below reorder point|below the reorder point|at or below reorder point|"
            "to reorder|need reordering|needs reordering|need to be reordered|needs to be reordered|running low|"
            "running low on stock|running low on inventory|running out|run out|running short|running short of stock|running short on stock|short of stock|short on stock|"
            "low inventory|short supply|understocked|under stocked|reorder|restock|need restocking|needs restocking",
            "bajo inventario|bajo stock|stock bajo|inventario bajo|por reordenar|hay que reordenar|reordenar|"
            "por debajo del punto de reorden|en punto de reorden|pocas existencias|por pedir|hay que pedir|"
            "reabastecer|reponer|por reponer|existencias bajas|bajo nivel de inventario|necesitan reorden",
        ),
        conditions=(("spare_parts", Condition("sp.quantity_on_hand <= sp.reorder_point", ("spare_parts",))),),
        implies_subject="spare_parts",
    ),
    Concept(
        "unassigned",
        Label("without an assigned technician", "sin técnico asignado"),
        words(
            "unassigned|without technician|without a technician|without an assigned technician|"
            "without assigned technician|with no technician|no technician|not assigned|no one assigned|nobody assigned|"
            "don't have a technician|don't have a technician assigned|do not have a technician|have no technician|"
            "has no technician|no technician assigned|doesn't have a technician|nobody has been assigned|no one has been assigned|"
            "nobody is assigned|no one is assigned|not assigned to anyone|without anyone assigned|no assignee|"
            "without an assignee|with no assignee",
            "sin técnico|sin técnico asignado|sin asignar|no asignado|sin responsable|sin asignación|sin nadie asignado|"
            "nadie asignado|que nadie tiene asignada|no tienen técnico|no tiene técnico|sin nadie|no tienen ningún técnico|"
            "no tiene ningún técnico|ningún técnico asignado|sin ningún técnico",
        ),
        conditions=(("work_orders", Condition("w.technician_id IS NULL", ("work_orders",))),),
        implies_subject="work_orders",
    ),
    Concept(
        "active",
        Label("active", "activos"),
        words(
            "active|enabled|currently active|work|works|working|on duty",
            "activo|vigente|habilitado|en activo|trabajan|trabaja",
        ),
        conditions=(
            ("technicians", Condition("t.active = {true}", ("technicians",))),
            ("maintenance_plans", Condition(_ACTIVE_PLAN, ("maintenance_plans",))),
            ("work_orders", Condition(f"w.status IN {OPEN_STATUSES}", ("work_orders",))),
        ),
    ),
    Concept(
        "inactive",
        Label("inactive", "inactivos"),
        words("inactive|disabled|not active|former", "inactivo|deshabilitado|no activo"),
        conditions=(
            ("technicians", Condition("t.active = {false}", ("technicians",))),
            ("maintenance_plans", Condition("p.active = {false}", ("maintenance_plans",))),
        ),
    ),
)

CMMS = Domain(
    tables=TABLES, joins=JOINS, attributes=ATTRIBUTES, subjects=SUBJECTS, measures=MEASURES, concepts=CONCEPTS
)

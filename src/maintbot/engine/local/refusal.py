"""Requests to change data are refused before anything is parsed, let alone run."""

from __future__ import annotations

import re

from maintbot.engine.local.text import normalise

# SQL that writes, wherever it appears in the message ("'; DROP TABLE sites; --").
_WRITE_SQL = re.compile(
    r"\b(?:drop|truncate|alter)\s+(?:table|database|schema|index|view)\b"
    r"|\bdelete\s+from\b|\binsert\s+(?:or\s+\w+\s+)?into\b|\bupdate\s+\w+\s+set\b|\breplace\s+into\b"
    r"|\bcreate\s+(?:temp\w*\s+)?(?:table|view|index|trigger|database|schema)\b|\bgrant\s+\w+|\battach\s+database\b"
    r"|\bpragma\s+\w+|;\s*(?:drop|delete|insert|update|alter|truncate|create|attach|pragma)\b",
    re.IGNORECASE,
)
# Verbs that only ever ask to change data, wherever they appear.
_ALWAYS_WRITE = frozenset(
    """
    delete remove drop truncate erase wipe purge insert update modify overwrite deactivate borra borrar
    borre borren elimina eliminar elimine eliminen actualiza actualizar actualice modifica modificar
    modifique inserta insertar inserte cambia cambiar cambie quita quitar quite suprime suprimir vacia
    vaciar
    """.split()
)
# Verbs that ask to change data when they open the request ("Set all open orders to cancelled").
_IMPERATIVE = frozenset(
    """
    set add create close cancel assign reassign mark reset clear rename alter move approve reschedule
    register write restore disable enable reopen edit change raise increase decrease reduce
    subir sube subele aumenta aumentar aumente incrementa incrementar reduce reducir disminuye disminuir
    crea crear cree cierra cerrar cierre
    cancela cancelar cancele asigna asignar asigne reasigna reasignar marca marcar marque resetea limpia
    limpiar renombra mueve mover aprueba aprobar reprograma reprogramar registra registrar desactiva
    desactivar abre abrir pon poner establece establecer fija fijar agrega agregar agregue añade añadir
    añada edita editar genera generar
    """.split()
)
_POLITE = frozenset(
    """
    please kindly can could would you i we want to need lets let us go ahead and just now por favor
    puedes podrias podria puede quiero quisiera necesito necesitamos hay que vamos a me ayudas ayudame
    """.split()
)
# "Dar de baja" retires equipment; "dar de alta" registers something new. Both are writes.
_DAR_DE_BAJA = re.compile(r"\b(?:da|dar|den|de|demos)\s+de\s+(?:baja|alta)\b")


def asks_to_change_data(question: str) -> bool:
    """True when the user asks to write, delete or alter anything (or sends SQL that would)."""
    if _WRITE_SQL.search(question):
        return True
    text = normalise(question)
    words = text.split()
    if any(word in _ALWAYS_WRITE for word in words):
        return True
    opening = [word for word in words if word not in _POLITE]
    if opening and opening[0] in _IMPERATIVE:
        return True
    return bool(_DAR_DE_BAJA.search(text)) and not text.startswith(
        ("cuant", "que ", "cual", "lista", "muestra")
    )

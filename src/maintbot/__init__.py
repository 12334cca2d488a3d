"""MaintBot: answers maintenance (CMMS) questions in English or Spanish over HTTP."""

__version__ = "0.1.0"

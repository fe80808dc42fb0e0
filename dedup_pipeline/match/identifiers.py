"""Identifiers that do not identify a person.

A role mailbox (``info@``, ``sales@``, ``zakaz@`` ...) is read by whoever staffs it, so two
contacts sharing one are colleagues at best. Such addresses stay on the contact and on the
golden profile, but are neither blocked on nor compared as evidence of identity.
"""

from __future__ import annotations

import polars as pl

__all__ = ["ROLE_MAILBOX_LOCAL_PARTS", "is_role_mailbox"]

#: Local parts of shared, function-named mailboxes in Russian and English business mail.
ROLE_MAILBOX_LOCAL_PARTS: frozenset[str] = frozenset(
    {
        # English
        "info", "information", "office", "sales", "sale", "hello", "hi", "contact", "contacts",
        "support", "help", "helpdesk", "service", "admin", "administrator", "team", "mail",
        "email", "enquiries", "enquiry", "inquiries", "inquiry", "marketing", "pr", "press",
        "media", "hr", "jobs", "job", "careers", "career", "billing", "accounts", "accounting",
        "finance", "invoice", "invoices", "orders", "order", "shop", "store", "booking",
        "bookings", "reservations", "reception", "frontdesk", "general", "main", "company",
        "noreply", "no-reply", "donotreply", "postmaster", "webmaster", "hostmaster", "abuse",
        "security", "legal", "partners", "partner", "business", "feedback", "newsletter",
        # Russian, transliterated
        "zakaz", "zakazy", "priem", "priemnaya", "buh", "buhgalteria", "buhgalteriya",
        "kadry", "otdel", "prodazhi", "sekretar", "ofis", "kontakt", "kontakty", "pochta",
        "zapros", "snab", "snabzhenie", "tender", "tendery", "dogovor", "logistika",
    }
)  # fmt: skip


def is_role_mailbox(address: pl.Expr) -> pl.Expr:
    """Whether a normalised address is a role mailbox (``info@``, ``sales-msk@``, ...).

    The local part is compared after dropping digits and separators, so ``sales2@`` and
    ``info.msk@`` count as well.
    """
    local = address.str.split("@").list.first()
    stem = local.str.replace(r"[._\-+]?(msk|spb|ru|en|\d+)$", "").str.split(".").list.first()
    stem = stem.str.replace_all(r"[\d_\-]+$", "")
    roles = list(ROLE_MAILBOX_LOCAL_PARTS)
    return stem.is_in(roles) | local.is_in(roles)

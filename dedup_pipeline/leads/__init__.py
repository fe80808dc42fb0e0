"""The incoming-lead check: which existing clients does a new lead duplicate, and why?

A lead (phones, e-mails, name, company, city) is normalised and prepared with the
pipeline's own code, paired with the base records that share a blocking key with it and
scored with the last run's model; the clients whose records score at or above the review
threshold come back best first, each with its golden profile and the weight of every
comparison. One `LeadChecker` loads the run once and answers many leads::

    from dedup_pipeline.config import load_config
    from dedup_pipeline.leads import Lead, LeadChecker

    checker = LeadChecker.load(load_config("configs/sample.yaml"))
    answer = checker.check(Lead(phones=["8 (912) 345-67-89"], full_name="Иван Петров"))
    print(answer.model_dump_json(indent=2))

`create_app` serves the same check over HTTP for CRM webhooks (``POST /leads/check``);
``dedup check-lead`` and ``dedup serve-leads`` are the command-line ends.
"""

from dedup_pipeline.leads.answer import (
    ClientMatch,
    ClientProfile,
    ComparisonReason,
    LeadCheck,
    MatchedRecord,
    NormalizedLead,
    Thresholds,
)
from dedup_pipeline.leads.app import TOKEN_ENV, create_app
from dedup_pipeline.leads.check import (
    LEAD_RECORD_ID,
    LeadChecker,
    LeadCheckUnavailable,
    LeadRejected,
    RunFiles,
)
from dedup_pipeline.leads.lead import Lead

__all__ = [
    "LEAD_RECORD_ID",
    "TOKEN_ENV",
    "ClientMatch",
    "ClientProfile",
    "ComparisonReason",
    "Lead",
    "LeadCheck",
    "LeadCheckUnavailable",
    "LeadChecker",
    "LeadRejected",
    "MatchedRecord",
    "NormalizedLead",
    "RunFiles",
    "Thresholds",
    "create_app",
]

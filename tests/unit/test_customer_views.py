"""Who is the assigned resolver; the evidence page's customer section; the lookup's
unavailable answer when nothing answers (tests/integration/test_customer_lookup.py and
tests/e2e/test_customer_views.py cover the real RPC)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from contracts import api
from contracts.envelope import Actor
from servicekit.customers import CustomerLookup, lookup_timeout
from services.reporting.evidence import evidence_html, evidence_pack
from services.resolution.service import assigned_resolver
from tests.unit.test_evidence import lifecycle

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def resolution(responses=(), proposal=None) -> api.ResolutionView:
    return api.ResolutionView(
        complaint_id=uuid.uuid4(), status="ready", type="complaint",
        requires_investigation=True, first_response_at=None, disputes=[], outcome=None,
        closed_at=None, follow_up=None, version=1, proposal=proposal,
        responses=[{"number": n + 1, "outcome": "apology", "message": "m", "amount": None,
                    "currency": None, "at": NOW, "by": by} for n, by in enumerate(responses)])


def test_nobody_is_the_resolver_until_someone_takes_the_resolution_on():
    assert assigned_resolver(resolution()) is None


def test_the_resolver_is_the_author_of_the_first_response():
    assert assigned_resolver(resolution(["res-1", "res-2"])) == "res-1"


def test_before_any_response_the_proposer_of_the_remedy_is_the_resolver():
    proposal = {"outcome": "refund", "amount": Decimal("5000"), "currency": "CNY",
                "proposed_by": "res-3", "status": "pending"}
    assert assigned_resolver(resolution(proposal=proposal)) == "res-3"
    # an approved remedy is sent in its proposer's name: the same resolver
    assert assigned_resolver(resolution(["res-3"], proposal={**proposal,
                                                             "status": "approved"})) == "res-3"


def test_the_evidence_page_shows_the_customer_block_it_is_given_escaped():
    t = lifecycle()
    pack = evidence_pack(str(t.complaint_id), t.entries)
    assert 'id="customer"' not in evidence_html(pack)  # not asked: not shown
    page = evidence_html({**pack, "customer": {"name": "Z* <b>", "email": "z***@example.com"},
                          "customer_view": "masked"})
    assert '<section id="customer"><h2>Customer</h2>' in page
    assert "as your role may see it: masked" in page
    assert "<td>Z* &lt;b&gt;</td>" in page and "<td>z***@example.com</td>" in page
    page = evidence_html({**pack, "customer": {}, "customer_view": "unavailable"})
    assert "not available: intake did not answer" in page


def test_a_lookup_that_cannot_reach_a_broker_answers_unavailable():
    lookup = CustomerLookup({"AMQP_URI": "amqp://guest:guest@127.0.0.1:1/"}, "reporting",
                            timeout=1.0)
    shown = lookup(uuid.uuid4(), Actor(id="qm-1", role="quality_manager"))
    assert shown == {"customer": {}, "customer_view": "unavailable"}
    lookup.close()


def test_the_timeout_comes_from_the_config_or_the_environment(monkeypatch):
    monkeypatch.delenv("CUSTOMER_LOOKUP_SECONDS", raising=False)
    assert lookup_timeout({}) == 2.0
    monkeypatch.setenv("CUSTOMER_LOOKUP_SECONDS", "0.5")
    assert lookup_timeout({}) == 0.5
    assert lookup_timeout({"CUSTOMER_LOOKUP_SECONDS": 3}) == 3.0

"""Authentication and authorization: tokens, the permission table, the HTTP and RPC
entrypoints that enforce them, investigation's row-level rule, the token command and
`make run`'s development tokens."""

import json
import os
import subprocess
import sys
import time
import uuid
import warnings

import jwt
import pytest
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder

from servicekit import auth
from servicekit.client import auth_headers
from servicekit.http import vars_all
from servicekit.runtime import Runtime, ServiceBase
from services.intake.application import IntakeApplication
from services.intake.service import IntakeService
from services.investigation.application import InvestigationApplication
from services.investigation.service import InvestigationService
from services.reporting.service import ReportingService
from services.resolution.service import ResolutionService
from tests.conftest import TEST_AUTH_SECRET
from tests.e2e.conftest import ROOT

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
SERVICES = [IntakeService, InvestigationService, ResolutionService, ReportingService]
KEY = TEST_AUTH_SECRET.encode()
OTHER_KEY = b"another-key-of-at-least-32-bytes-0123456789"


def bad_tokens() -> list[tuple[str, dict[str, str]]]:
    """(expected 401 reason, headers) for every way a token can be unusable."""
    now = int(time.time())
    good = {"sub": "agent-7", "roles": ["agent"], "iat": now, "exp": now + 600}

    def bearer(claims, key=KEY, algorithm="HS256"):
        with warnings.catch_warnings():  # PyJWT warns of a short key for HS512: that is the point
            warnings.simplefilter("ignore")
            return {"Authorization": "Bearer " + jwt.encode(claims, key, algorithm=algorithm)}

    return [
        ("missing", {}),
        ("missing", {"Authorization": ""}),
        ("malformed", {"Authorization": "Bearer "}),
        ("malformed", {"Authorization": "Basic YWdlbnQ6c2VjcmV0"}),
        ("malformed", {"Authorization": "Bearer not-a-token"}),
        ("malformed", {"Authorization": "Bearer a.b.c"}),
        ("malformed", bearer({k: v for k, v in good.items() if k != "exp"})),
        ("malformed", bearer({k: v for k, v in good.items() if k != "roles"})),
        ("malformed", bearer({**good, "roles": "agent"})),
        ("malformed", bearer({**good, "sub": ""})),
        ("malformed", bearer({**good, "sub": "agent-7\u0000"})),
        ("malformed", bearer({**good, "sub": " agent-7"})),
        ("malformed", bearer({**good, "team": "ops\u202e"})),
        ("expired", bearer({**good, "iat": now - 7200, "exp": now - 3600})),
        ("bad_signature", bearer(good, OTHER_KEY)),
        ("bad_signature", bearer(good, algorithm="HS512")),
        ("bad_signature", {"Authorization": "Bearer " + jwt.encode(good, None, algorithm="none")}),
        ("unknown_role", bearer({**good, "roles": ["emperor"]})),
        ("unknown_role", bearer({**good, "roles": ["agent", "root"]})),
    ]


def request(method="GET", body=None, headers=None):
    return EnvironBuilder(method=method, path="/", data=json.dumps(body or {}),
                          headers=headers or {}, content_type="application/json").get_request()


def answer(response):
    return response.status_code, json.loads(response.get_data())


# --- tokens ---------------------------------------------------------------------


def test_an_issued_token_verifies_to_its_subject_roles_and_team():
    token = auth.issue("inv-3", ["investigator", "resolver"], 60, team="product")
    assert auth.verify(token) == auth.Principal("inv-3", ("investigator", "resolver"), "product")
    claims = jwt.decode(token, KEY, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 60


@pytest.mark.parametrize("index", range(len(bad_tokens())),
                         ids=[f"{r}-{i}" for i, (r, _) in enumerate(bad_tokens())])
def test_every_unusable_token_is_refused_naming_only_the_reason(index):
    # Made when the test runs: one made at collection may have expired by now.
    reason, headers = bad_tokens()[index]
    with pytest.raises(auth.Unauthenticated) as caught:
        auth.authenticate(headers.get("Authorization"))
    assert caught.value.reason == reason
    assert "agent-7" not in str(caught.value) and TEST_AUTH_SECRET not in str(caught.value)


def test_the_key_must_be_set_and_at_least_32_bytes():
    with pytest.raises(auth.AuthConfigError, match="AUTH_SECRET is not set"):
        auth.secret({})
    with pytest.raises(auth.AuthConfigError, match="at least 32"):
        auth.secret({"AUTH_SECRET": "short"})
    assert auth.secret({"AUTH_SECRET": "k" * 32}) == b"k" * 32


def test_tokens_are_not_issued_for_unknown_roles_or_without_a_subject():
    with pytest.raises(ValueError, match="unknown role"):
        auth.issue("x", "emperor")
    with pytest.raises(ValueError, match="sub"):
        auth.issue("", "agent")


# --- the permission table -------------------------------------------------------------


@pytest.mark.parametrize("service_cls", SERVICES, ids=[s.name for s in SERVICES])
def test_every_entrypoint_of_every_service_has_a_line_in_the_permission_table(service_cls):
    """A new route (or RPC) without a permission entry fails here, and at start."""
    actions = auth.entrypoint_actions(service_cls)
    assert f"{service_cls.name}.notifications" in actions
    rpcs = [n for n in dir(service_cls) if getattr(getattr(service_cls, n), "rpc_action", 0)]
    assert len(actions) == len([h for h in vars_all(service_cls)
                                if not h.endpoint_spec["public"]]) + len(rpcs)
    assert auth.permissions().missing(actions) == []
    auth.check_service(service_cls)


def test_only_health_and_openapi_are_public():
    for service_cls in SERVICES:
        public = sorted(h.endpoint_spec["path"] for h in vars_all(service_cls)
                        if h.endpoint_spec["public"])
        assert public == ["/health", "/openapi.json"], service_cls.name


def test_the_table_names_no_action_that_does_not_exist():
    known = {a for s in SERVICES for a in auth.entrypoint_actions(s)}
    assert sorted(auth.permissions().actions() - known) == []


def test_a_service_with_an_action_missing_from_the_table_refuses_to_start():
    from servicekit.http import endpoint

    class Rogue(ServiceBase):
        name = "intake"

        @endpoint("POST", "/purge", summary="purge")
        def purge_everything(self, call):
            return {}

    with pytest.raises(auth.AuthConfigError, match="intake.purge_everything"):
        auth.check_service(Rogue)


def test_a_service_refuses_to_start_without_the_key(monkeypatch):
    monkeypatch.delenv("AUTH_SECRET")
    with pytest.raises(auth.AuthConfigError, match="AUTH_SECRET"):
        auth.check_service(IntakeService)


def test_the_table_rejects_unknown_roles_and_malformed_actions():
    with pytest.raises(ValueError, match="unknown role 'root'"):
        auth.Permissions({"root": ["intake.receive_complaint"]})
    with pytest.raises(ValueError, match="not <service>.<entrypoint>"):
        auth.Permissions({"agent": ["receive everything"]})


def test_denied_by_default_and_a_multi_role_token_is_allowed_if_any_role_allows():
    table = auth.permissions()
    agent = auth.Principal("agent-7", ("agent",))
    with pytest.raises(auth.Denied, match="agent role may not investigation.conclude "
                                          r"\(allowed: investigator, supervisor, admin\)"):
        table.authorize(agent, "investigation.conclude")
    with pytest.raises(auth.Denied):
        table.authorize(agent, "intake.not_in_the_table")
    both = auth.Principal("x-1", ("agent", "resolver"))
    assert table.authorize(both, "resolution.respond").model_dump() == {
        "id": "x-1", "role": "resolver"}


def test_the_roles_of_the_issue_hold():
    table = auth.permissions()
    actions = {a for s in SERVICES for a in auth.entrypoint_actions(s)}
    writes = {auth.action_of(s.name, h.endpoint_spec["handler"]) for s in SERVICES
              for h in vars_all(s) if h.endpoint_spec["method"] != "GET"}
    service_rpcs = {f"{s.name}.notifications" for s in SERVICES} | {"intake.customer"}
    reads = actions - writes - service_rpcs
    # quality managers read everything and change nothing but corrective-action verification
    assert {a for a in writes if table.allows("quality_manager", a)} == {
        "investigation.verify_corrective_action"}
    assert reads <= table.by_role["quality_manager"]
    # agents create and read complaints, not investigations
    assert table.allows("agent", "intake.receive_complaint")
    assert table.allows("agent", "intake.get_complaint")
    assert not any(a.startswith("investigation.") for a in table.by_role["agent"])
    # services call each other's notification log, and intake's customer block by role
    # (personal data stays in intake; downstream asks for what its reader may see)
    assert table.by_role["system"] == service_rpcs
    assert not any(table.allows(r, f"{s.name}.notifications") for s in SERVICES
                   for r in auth.ROLES if r != "system")
    # the importer (admin) may do what an import needs
    assert {"intake.receive_complaint", "investigation.take_escalation", "investigation.assign",
            "investigation.conclude", "resolution.respond", "resolution.accept",
            "resolution.dispute", "resolution.close"} <= table.by_role["admin"]


# --- HTTP -----------------------------------------------------------------------


def intake_worker(app=None):
    return worker_factory(IntakeService, runtime=Runtime(app or IntakeApplication(env=POPO),
                                                         None, {}))


COMPLAINT = {"channel": "web", "customer": {"name": "A"}, "text": "The staff were rude"}


def test_a_read_needs_a_token_too_and_a_401_says_only_why():
    status, body = answer(intake_worker().triage_queue(request()))
    assert status == 401
    assert body == {"error": "unauthenticated", "reason": "missing",
                    "message": "send a token: Authorization: Bearer <token>"}


def test_health_and_openapi_need_no_token():
    service = intake_worker()
    assert service.health(request()).status_code == 200
    assert service.openapi(request()).status_code == 200


def test_a_role_the_table_does_not_allow_is_403_and_stores_nothing():
    app = IntakeApplication(env=POPO)
    status, body = answer(intake_worker(app).receive_complaint(
        request("POST", COMPLAINT, auth_headers("qm-1", "quality_manager"))))
    assert (status, body["error"]) == (403, "forbidden")
    assert body["message"] == ("the quality_manager role may not intake.receive_complaint "
                               "(allowed: agent, admin)")
    assert app.head() == 0


def test_the_service_role_is_refused_over_http():
    status, _ = answer(intake_worker().receive_complaint(
        request("POST", COMPLAINT, {"Authorization": "Bearer " + auth.service_token("x")})))
    assert status == 403


def test_the_actor_recorded_is_the_tokens_subject_and_role_never_the_body():
    app = IntakeApplication(env=POPO)
    status, _ = answer(intake_worker(app).receive_complaint(request(
        "POST", COMPLAINT, {**auth_headers("agent-7", "agent"),
                            "X-Actor-Id": "someone-else", "X-Actor-Role": "admin"})))
    assert status == 201
    assert {e.actor.model_dump(mode="json")["id"] for e in app.notifications(1, 10)} == {
        "agent-7"}
    assert {e.actor.model_dump(mode="json")["role"] for e in app.notifications(1, 1)} == {
        "agent"}


def test_the_openapi_document_declares_bearer_auth_and_each_operations_action():
    for service_cls in SERVICES:
        doc = service_cls.openapi(worker_factory(service_cls), request())
        doc = json.loads(doc.get_data())
        assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
        for path, item in doc["paths"].items():
            for operation in item.values():
                public = path in ("/health", "/openapi.json")
                assert operation["security"] == ([] if public else [{"bearerAuth": []}])
                assert ("401" in operation["responses"]) is not public
                assert operation["x-action"].startswith(service_cls.name + ".")


# --- RPC ------------------------------------------------------------------------


def rpc_worker(context):
    return worker_factory(IntakeService, runtime=Runtime(IntakeApplication(env=POPO), None, {}),
                          caller=context)


def test_an_rpc_without_a_valid_service_token_is_refused():
    with pytest.raises(auth.Unauthenticated) as caught:
        rpc_worker({}).notifications(1, 10)
    assert caught.value.reason == "missing"
    for reason, headers in bad_tokens()[2:]:
        with pytest.raises(auth.Unauthenticated) as caught:
            rpc_worker({"authorization": headers["Authorization"]}).notifications(1, 10)
        assert caught.value.reason == reason
    with pytest.raises(auth.Denied):  # a person's token, however senior, is not a service's
        rpc_worker({"authorization": auth_headers("admin-1", "admin")["Authorization"]}
                   ).notifications(1, 10)


def test_an_rpc_with_a_service_token_is_served():
    token = "Bearer " + auth.service_token("investigation")
    assert rpc_worker({"authorization": token}).notifications(1, 10) == []


def test_every_rpc_entrypoint_is_a_secured_one():
    from nameko.rpc import Rpc

    for service_cls in SERVICES:
        for name in dir(service_cls):
            member = getattr(service_cls, name)
            entrypoints = getattr(member, "nameko_entrypoints", ())
            if any(isinstance(e, Rpc) for e in entrypoints):
                assert getattr(member, "rpc_action", False), (service_cls.name, name)


# --- row level: investigation ----------------------------------------------------------


class Investigation:
    """The real investigation application behind its entrypoints, fed by a real intake."""

    def __init__(self):
        self.intake = IntakeApplication(env=POPO)
        self.app = InvestigationApplication(env=POPO)
        self.service = worker_factory(InvestigationService,
                                      runtime=Runtime(self.app, None, {}))

    def complaint(self, text):
        from contracts import api
        from contracts.envelope import Actor

        view = self.intake.receive_complaint(api.ReceiveComplaint.model_validate(
            {**COMPLAINT, "text": text}), Actor(id="agent-7", role="agent"))
        for envelope in self.intake.notifications(self.app.position("intake") + 1, 100):
            self.app.process(envelope)
        return str(view.complaint_id)

    def call(self, name, headers, body=None, **path):
        method = "POST" if body is not None else "GET"
        return answer(getattr(self.service, name)(request(method, body, headers), **path))


INV = {i: auth_headers(f"inv-{i}", "investigator") for i in range(1, 10)}
FINDING = {"kind": "interview", "text": "The clerk confirms it"}


def test_an_investigator_sees_and_acts_on_their_own_cases_only():
    inv = Investigation()
    first = inv.complaint("The staff were rude")  # customer-service: inv-1
    second = inv.complaint("The staff were rude again, and impatient")  # inv-2
    assert inv.call("get_case", INV[1], complaint_id=first)[1]["investigator"] == "inv-1"
    assert inv.call("record_finding", INV[1], FINDING, complaint_id=first)[0] == 200

    status, body = inv.call("get_case", INV[1], complaint_id=second)
    assert (status, body["error"]) == (403, "forbidden")
    assert "neither assigned to them nor in their team's queue" in body["message"]
    head = inv.app.head()
    assert inv.call("record_finding", INV[1], FINDING, complaint_id=second)[0] == 403
    assert inv.call("conclude", INV[1], {"root_cause": "people", "five_whys": ["x"],
                                         "responsible_department": "d", "summary": "s"},
                    complaint_id=second)[0] == 403
    assert inv.app.head() == head, "a refused command stores nothing"
    assert inv.call("get_case", INV[1], complaint_id=str(uuid.uuid4()))[0] == 404

    listed = inv.call("list_cases", INV[1])[1]["cases"]
    assert [c["complaint_id"] for c in listed] == [first]
    everything = inv.call("list_cases", auth_headers("qm-1", "quality_manager"))[1]["cases"]
    assert {c["complaint_id"] for c in everything} == {first, second}


def test_a_supervisor_sees_and_acts_on_their_teams_cases_only():
    inv = Investigation()
    rude = inv.complaint("The staff were rude")  # customer-service
    slipped = inv.complaint("I slipped on a broken step and was injured")  # safety
    safety = auth_headers("sup-safe", "supervisor")
    assert inv.call("get_case", safety, complaint_id=slipped)[0] == 200
    assert inv.call("get_case", safety, complaint_id=rude)[0] == 403
    assert [c["complaint_id"] for c in inv.call("list_cases", safety)[1]["cases"]] == [slipped]
    queue = inv.call("supervisor_queue", safety)[1]["cases"]
    assert [c["complaint_id"] for c in queue] == [slipped]
    assert inv.call("supervisor_queue", auth_headers("sup-cs", "supervisor"))[1] == {
        "cases": []}
    # the token's team, when it names one, is the team
    assert inv.call("get_case", auth_headers("sup-x", "supervisor", team="customer-service"),
                    complaint_id=rude)[0] == 200


def test_a_consulted_department_answers_its_consultation_but_works_nothing_else():
    inv = Investigation()
    slipped = inv.complaint("I slipped on a broken step and was injured")
    safety = auth_headers("sup-safe", "supervisor")
    assert inv.call("request_consultation", safety, {"department": "legal",
                    "question": "Are we liable?"}, complaint_id=slipped)[0] == 200
    legal = auth_headers("legal-1", "investigator", team="legal")
    assert inv.call("get_case", legal, complaint_id=slipped)[0] == 200
    status, body = inv.call("answer_consultation", legal, {"findings": "Yes"},
                            complaint_id=slipped, consultation="c1")
    assert (status, body["consultations"][0]["answered_by"]) == (200, "legal-1")
    assert inv.call("record_finding", legal, FINDING, complaint_id=slipped)[0] == 403
    assert inv.call("answer_consultation", INV[1], {"findings": "No"},
                    complaint_id=slipped, consultation="c1")[0] == 403


def test_an_unassigned_case_in_the_team_queue_is_visible_to_the_team():
    inv = Investigation()
    # nobody is available in the privacy team once its only investigator is away
    from services.investigation.routing import Roster

    roster = inv.app.roster
    inv.app.roster = Roster(roster.routes, roster.supervisors, roster.investigators,
                            roster.away | {"inv-11"})
    leaked = inv.complaint("You leaked my personal data to a stranger")
    case = inv.call("get_case", auth_headers("admin-1", "admin"), complaint_id=leaked)[1]
    assert (case["team"], case["investigator"]) == ("privacy", None)
    assert inv.call("get_case", auth_headers("inv-11", "investigator"),
                    complaint_id=leaked)[0] == 200
    assert inv.call("get_case", INV[1], complaint_id=leaked)[0] == 403


# --- the token command and make run's development tokens --------------------------------


def test_the_token_command_issues_a_token_the_services_accept():
    done = subprocess.run([sys.executable, "-m", "servicekit.tokens", "--sub", "inv-4",
                           "--role", "investigator", "--role", "resolver", "--ttl", "30m",
                           "--team", "product"], cwd=ROOT, capture_output=True, text=True,
                          env=os.environ)
    assert done.returncode == 0, done.stderr
    principal = auth.verify(done.stdout.strip())
    assert principal == auth.Principal("inv-4", ("investigator", "resolver"), "product")
    claims = jwt.decode(done.stdout.strip(), KEY, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 1800


def test_the_token_command_refuses_an_unknown_role_and_a_missing_key():
    done = subprocess.run([sys.executable, "-m", "servicekit.tokens", "--sub", "x",
                           "--role", "emperor"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "invalid choice: 'emperor'" in done.stderr
    env = {k: v for k, v in os.environ.items() if k != "AUTH_SECRET"}
    done = subprocess.run([sys.executable, "-m", "servicekit.tokens", "--sub", "x",
                           "--role", "agent"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "AUTH_SECRET is not set" in done.stderr


def test_make_run_makes_a_key_when_none_is_set_and_writes_a_token_per_role(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    import run_all

    env = {}
    assert run_all.ensure_secret(env) is True and len(env["AUTH_SECRET"]) >= 32
    assert run_all.ensure_secret(env) is False, "a key already set is kept"
    tokens = run_all.dev_tokens(env)
    path = run_all.write_dev_tokens(tokens, tmp_path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    lines = [line for line in path.read_text().splitlines() if line.startswith("export ")]
    assert len(lines) == len(tokens)
    key = env["AUTH_SECRET"].encode()
    roles = {auth.verify(line.split("=", 1)[1], key).roles[0] for line in lines}
    assert roles == set(auth.ROLES) - {"system"}

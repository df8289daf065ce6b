from contracts import api
from contracts.envelope import Actor
from services.intake.application import IntakeApplication


def test_a_received_complaint_can_be_read_back_from_every_store(store_env):
    app = IntakeApplication(env=store_env)
    view = app.receive_complaint(
        api.ReceiveComplaint(channel="web", customer={"name": "A"}, text="rude staff"),
        Actor(id="a", role="agent"))
    again = IntakeApplication(env=store_env) if store_env["PERSISTENCE_MODULE"] != \
        "eventsourcing.popo" else app
    assert again.get_complaint(view.complaint_id).classification.category == "service_attitude"
    assert [e.event_type for e in again.notifications(1, 10)] == [
        "complaint.received", "complaint.classified", "complaint.acknowledged"]

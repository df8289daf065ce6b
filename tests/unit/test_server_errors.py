"""A request that passed validation and then failed inside the handler on a pydantic
error is the server's fault (a stored record that no longer fits its contract): a logged
500, never a 422 that blames the caller."""

import json
import logging

from pydantic import BaseModel
from werkzeug.test import EnvironBuilder

from servicekit.http import endpoint


class Strict(BaseModel):
    count: int


class Service:
    name = "demo"

    @endpoint("GET", "/drift", public=True)
    def drift(self, call):
        drifted = "-".join(["stored", "value"])  # built here: not in the source line
        return Strict(count=drifted)  # the stored data drifted from the contract


def test_a_pydantic_error_inside_a_handler_is_a_logged_500(caplog):
    request = EnvironBuilder(method="GET", path="/drift").get_request()
    with caplog.at_level(logging.ERROR, logger="servicekit.http"):
        response = Service().drift(request)
    assert response.status_code == 500
    assert json.loads(response.get_data())["error"] == "internal"
    assert "unhandled ValidationError in drift" in caplog.text
    assert "stored-value" not in caplog.text  # the message (the values) is never logged

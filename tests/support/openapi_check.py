"""Validating real ``/api/v1`` answers against the served OpenAPI document: the document must
be valid OpenAPI 3.1, and each answer's body must match the schema the document gives for
its path, method, status and media type."""

from __future__ import annotations

import re
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec


class OpenApiChecker:
    def __init__(self, document: dict[str, Any]) -> None:
        validate_spec(document)  # type: ignore[arg-type]
        self.document = document
        self.seen: set[tuple[str, str]] = set()
        self._paths = [
            (re.compile(re.sub(r"\{[a-z_]+\}", "[^/]+", template) + "/?"), template)
            for template in document["paths"]
        ]

    def template_of(self, path: str) -> str:
        for pattern, template in self._paths:
            if pattern.fullmatch(path):
                return template
        raise AssertionError(f"{path} is not in the OpenAPI document")

    def check(self, response: httpx.Response) -> httpx.Response:
        request = response.request
        template = self.template_of(request.url.path)
        method = request.method.lower()
        operation = self.document["paths"][template].get(method)
        assert operation is not None, f"{method} {template} is not documented"
        answers = operation["responses"]
        status = str(response.status_code)
        assert status in answers, f"{method} {template} answered {status}, not documented"
        media = response.headers.get("content-type", "").split(";")[0].strip()
        content = answers[status].get("content", {})
        if not content:  # documented without a body (204): none may come
            assert response.content == b"", f"{method} {template} {status}: a body"
            self.seen.add((method, template))
            return response
        assert media in content, f"{method} {template} {status}: {media} not documented"
        if media == "application/json":
            schema = {**self.document, "$ref": content[media]["schema"]["$ref"]}
            errors = list(Draft202012Validator(schema).iter_errors(response.json()))
            assert not errors, f"{method} {template} {status}: {errors[0].message}"
        self.seen.add((method, template))
        return response

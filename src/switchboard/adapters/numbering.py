"""The number plan over libphonenumber: what a string is in an account's country."""

from __future__ import annotations

import functools

from switchboard.domain.numbers import NumberInfo, digits_of


class LibPhoneNumberPlan:
    """libphonenumber's answers are pure functions of the text and the country, and cost
    hundreds of microseconds a number; a CRM dials the same numbers and presents the same
    callback numbers again and again, so the latest answers are kept (bounded)."""

    def __init__(self, remember: int = 4096) -> None:
        self.is_emergency = functools.lru_cache(maxsize=remember)(self._is_emergency)  # type: ignore[method-assign]
        self.parse = functools.lru_cache(maxsize=remember)(self._parse)  # type: ignore[method-assign]

    def is_emergency(self, text: str, country: str) -> bool:
        return self._is_emergency(text, country)

    def parse(self, text: str, country: str) -> NumberInfo | None:
        return self._parse(text, country)

    def _is_emergency(self, text: str, country: str) -> bool:
        digits = digits_of(text)
        if not digits or text.strip().startswith("+"):
            return False
        from phonenumbers import shortnumberinfo  # loaded at first use: a second's tenth

        return bool(shortnumberinfo.is_emergency_number(digits, country.upper()))

    def _parse(self, text: str, country: str) -> NumberInfo | None:
        import phonenumbers
        from phonenumbers import PhoneNumberFormat, PhoneNumberType

        try:
            number = phonenumbers.parse(text, country.upper())
        except phonenumbers.NumberParseException:
            return None
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        valid = phonenumbers.is_valid_number(number)
        national = digits_of(phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL))
        premium = phonenumbers.number_type(number) is PhoneNumberType.PREMIUM_RATE
        return NumberInfo(e164=e164, national=national, valid=valid, premium=premium)

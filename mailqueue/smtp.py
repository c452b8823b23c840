"""Django's SMTP backend, telling "not sent" apart from "sent, but the server never confirmed".

A server that accepts a message and answers after our timeout (EMAIL_TIMEOUT) has the message: trying
again sends it twice, under the same Message-ID (issue 20). Once the server has said "go ahead" (354)
to DATA, the whole message is ours to send and a failure with no answer (a timeout, a dropped
connection) leaves its delivery unknown: ``send_messages`` raises ``SMTPOutcomeUnknownError`` instead.
A failure before DATA, or an explicit refusal after it (4xx/5xx), is a plain failure: nothing was
accepted, so a retry is safe.
"""

import smtplib

from django.core.mail.backends import smtp


class SMTPOutcomeUnknownError(Exception):
    """The server was given the whole message and never answered: it may well have it."""


class _Tracked:
    """Mixed into smtplib's client: ``handed_over`` is true once DATA was answered 354 for this message."""

    handed_over = False
    _awaiting_go_ahead = False

    def data(self, msg):
        self.handed_over, self._awaiting_go_ahead = False, True
        return super().data(msg)

    def getreply(self):
        code, text = super().getreply()
        if self._awaiting_go_ahead:  # the reply to DATA itself
            self._awaiting_go_ahead = False
            self.handed_over = code == 354
        return code, text


class _TrackedSMTP(_Tracked, smtplib.SMTP):
    pass


class _TrackedSMTPSSL(_Tracked, smtplib.SMTP_SSL):
    pass


class EmailBackend(smtp.EmailBackend):
    """django.core.mail.backends.smtp.EmailBackend, raising SMTPOutcomeUnknownError as above."""

    @property
    def connection_class(self):
        return _TrackedSMTPSSL if self.use_ssl else _TrackedSMTP

    def _send(self, email_message):
        try:
            return super()._send(email_message)
        except smtplib.SMTPResponseException:
            raise  # the server answered: it refused the message, which it therefore does not have
        except Exception as exc:
            if getattr(self.connection, "handed_over", False):
                raise SMTPOutcomeUnknownError(type(exc).__name__) from exc
            raise

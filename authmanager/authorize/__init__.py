"""The person at the browser (issue 12): the authorization endpoint (RFC 6749 §4.1, OAuth 2.1,
RFC 9700), the authorization dialog (the OAuth3 issuer's steps 5–7) and the codes it issues."""

#: Where the authorization endpoint (and the dialog's form) lives.
PATH = "/authorize"

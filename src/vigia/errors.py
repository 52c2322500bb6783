"""One exception hierarchy for the whole of Vigía.

Every error Vigía raises on purpose is a :class:`VigiaError`; the CLI prints its message on one
line (exit status 2) and the API answers it with the status that
:data:`vigia.api.app.STATUS_OF` gives its class (400 when no class of it is listed)::

    VigiaError
    ├── KLVError                      malformed KLV
    │   ├── BERError                  a BER length or OID that cannot be read
    │   ├── TruncatedError            bytes end before the structure they announce
    │   ├── ChecksumError             a packet whose checksum does not match
    │   ├── ItemError                 an item that does not fit its definition
    │   └── UnknownKeyError           a key Vigía does not decode
    ├── TransportError                malformed MPEG-2 transport stream
    ├── SourceError                   a file or UDP address that cannot be opened
    ├── GeoError                      invalid DEM, polygons or geometric parameters
    ├── ConsentError                  an AOI / consent file that cannot be accepted
    ├── TimeError                     a time that is not ISO 8601 or has no time zone
    ├── OutputFormatError             an output file whose extension no writer writes
    ├── OutputError                   an output file that cannot be written (no such folder...)
    ├── exploitation
    │   ├── ObservationError          a malformed observation
    │   ├── VocabularyError           a bad indicator vocabulary
    │   ├── ChipError                 chip parameters that cannot be used
    │   └── DetectorError             a detector model that does not fit its contract
    ├── CatalogError                  a data directory that is missing or damaged
    │   └── CatalogBusy               another writer holds the data directory       (503)
    ├── PlanError                     bad platform profiles and plan inputs
    ├── ScenarioError                 a scenario that cannot be built as asked
    ├── sharing
    │   ├── MarkingError              a classification, caveat or country refused
    │   ├── TearlineError             a releasable field whose value is refused
    │   │   └── TearlineLeakError     a tearline would carry a source-sensitive value
    │   ├── ProductError              a product that cannot be made
    │   │   └── ReleaseError          a release the rules refuse (``rule`` says which)
    │   ├── RenderError               a rendering that cannot be made as asked
    │   └── TakError                  a misconfigured TAK target
    ├── StoreError                    a request the store refuses
    │   ├── AuthError                 unknown user, wrong password, bad token       (401)
    │   ├── LoginThrottled            too many failed logins: ``retry_after_s``     (429)
    │   ├── PermissionDenied          role or agency does not allow it              (403)
    │   ├── NotFound                  no such object, or not one the user may see   (404)
    │   ├── Conflict                  not in a state that allows it                 (409)
    │   ├── Gone                      given once, since withdrawn                   (410)
    │   └── ValidationError           bad input; ``problems`` lists them all        (422)
    │       └── WeakPassword          a password the policy refuses                 (422)
    ├── AuditUnavailable              the audit log cannot be written               (503)
    │   └── AuditKeyError             the audit key file is missing or not private  (503)
    └── RenderUnavailable             a rendering not made within its time limit    (503)

Errors that come from bad input carry the byte offset (from the start of the source) where the
problem was found, when there is one, so that an analyst can locate it.
"""

from __future__ import annotations

from collections.abc import Sequence


class VigiaError(Exception):
    """Base class of every error Vigía raises on purpose."""

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        self.message = message
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (at byte offset {offset})")


# --- KLV -------------------------------------------------------------------------------------
class KLVError(VigiaError):
    """Malformed KLV: keys, BER lengths, local sets."""


class BERError(KLVError):
    """A BER length or BER-OID that cannot be read (truncated or over-long)."""


class TruncatedError(KLVError):
    """The bytes end before the structure they announce."""


class ChecksumError(KLVError):
    """A packet whose checksum does not match its bytes."""


class ItemError(KLVError):
    """An item whose length or content does not fit its definition."""


class UnknownKeyError(KLVError):
    """A 16-byte key that is not one Vigía decodes."""


# --- Transport and sources -------------------------------------------------------------------
class TransportError(VigiaError):
    """Malformed MPEG-2 transport stream (sync, PSI, PES)."""


class SourceError(VigiaError):
    """A source that cannot be opened or recognised (file, UDP address)."""


class TimeError(VigiaError, ValueError):
    """A time that cannot be read: not ISO 8601, or without a time zone."""


class OutputFormatError(VigiaError):
    """An output file whose extension names no format the writer can write
    (:func:`vigia.outputs.output_format`)."""


class OutputError(VigiaError):
    """An output file that cannot be written: its folder is missing or not writable, or the
    write failed (disk full, permissions); the message names the path
    (:func:`vigia.outputs.writing`)."""


# --- Geometry, consent, exploitation ---------------------------------------------------------
class GeoError(VigiaError):
    """Invalid geometry input (DEM, polygons, parameters)."""


class ConsentError(VigiaError):
    """An area-of-interest / consent file that cannot be accepted."""


class ObservationError(VigiaError):
    """An observation (mark, tip, detector output) is malformed."""


class VocabularyError(VigiaError):
    """The indicator vocabulary file is missing a field or has a bad value."""


class ChipError(VigiaError):
    """Chip parameters that cannot be used."""


class DetectorError(VigiaError):
    """A detector model that cannot be used: missing or corrupt file, or one whose inputs,
    outputs or class map do not fit the declared detector contract."""


class CatalogError(VigiaError):
    """The data directory is missing or damaged."""


class CatalogBusy(CatalogError):
    """Another writer (an ingest) holds the data directory's lock."""


# --- Planning and the scenario ---------------------------------------------------------------
class PlanError(VigiaError):
    """A platform profile, base, start time or plan file that cannot be used."""


class ScenarioError(VigiaError):
    """The scenario cannot be built as asked (e.g. too many objects for the area)."""


# --- Sharing ---------------------------------------------------------------------------------
class MarkingError(VigiaError):
    """A classification, caveat or country code that cannot be accepted."""


class TearlineError(VigiaError):
    """A releasable field whose value cannot be accepted (bad coordinate, time, code...)."""


class TearlineLeakError(TearlineError):
    """A tearline would carry the value of a source-sensitive field."""


class ProductError(VigiaError):
    """A product that cannot be made (bad inputs, inconsistent markings)."""


class ReleaseError(ProductError):
    """A release that the rules refuse (same person, wrong role, not releasable, not released).

    ``rule`` names the rule that refused it: ``"two-person"``, ``"releasability"`` or ``None``.
    """

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule


class RenderError(VigiaError):
    """A product that cannot be rendered as asked (format, audience, parameters)."""


class TakError(VigiaError):
    """A TAK target that is misconfigured (bad port, missing certificate files)."""


# --- The store -------------------------------------------------------------------------------
class StoreError(VigiaError):
    """Base class of every error of :mod:`vigia.store`: one class per way a request can be
    refused."""


class AuthError(StoreError):
    """Unknown user, wrong password, or a token that is unknown, expired or revoked."""


class LoginThrottled(StoreError):
    """Too many failed logins for this account or from this address: refused before the
    password is checked; ``retry_after_s`` (whole seconds) says when to try again."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermissionDenied(StoreError):
    """The user is known but their role or agency does not allow the operation."""


class NotFound(StoreError):
    """No such object, or not one the user is allowed to see."""


class Conflict(StoreError):
    """The object is not in a state that allows the operation (e.g. releasing twice)."""


class Gone(StoreError):
    """The object was given to the user once and has been withdrawn (e.g. a release)."""


class ValidationError(StoreError):
    """Bad input; ``problems`` lists every problem found (nothing was written)."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class WeakPassword(ValidationError):
    """A password the policy refuses (too short, common, contains the username...)."""


class AuditUnavailable(VigiaError):
    """The audit log could not be written: the read it records must not be answered."""


class AuditKeyError(AuditUnavailable):
    """The audit MAC key file is missing, unreadable or readable by others: entries can be
    neither written nor verified (``vigia audit verify`` exits 2, never 'ok')."""


class RenderUnavailable(VigiaError):
    """A rendering was not made within its time limit (the render workers are busy or it is too
    slow): the client may try again after ``retry_after_s`` seconds."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)

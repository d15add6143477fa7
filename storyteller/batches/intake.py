"""A batch from uploaded files, the one way for a form upload and resumable ones alike:
drop what was refused, publish the rest to the video store, create the batch, tell who
listens.

Blocking (disk, storage, database): call these from a worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from storyteller.accounts.quotas import check_upload
from storyteller.accounts.signin import OPEN, Viewer
from storyteller.batches.changes import LiveChanges
from storyteller.batches.choices import Choice
from storyteller.db import crud
from storyteller.db.database import Database
from storyteller.db.models import VideoStatus
from storyteller.storage.objects import FolderStore, StorageError, VideoStore
from storyteller.storage.sniff import NotAVideo, check_video
from storyteller.storage.tus import NoSuchUpload, TusStore, TusUpload
from storyteller.storage.uploads import FIRST_BYTES, StoredFile, UploadRefused, UploadStore
from storyteller.tellers.registry import has_models

log = logging.getLogger(__name__)


@dataclass
class UploadedFile:
    """One file of an upload: stored, or refused with the reason."""

    name: str
    stored: StoredFile | None = None
    refused: UploadRefused | None = None
    published: bool = False  # in the video store (storage/objects.py), not only on this disk


class NothingKept(UploadRefused):
    """Every file of an upload was refused, so no batch is made; `reason` joins every
    file's reason and `first` is the first refusal (its kind gives the HTTP status)."""

    def __init__(self, refusals: list[UploadRefused]) -> None:
        super().__init__("; ".join(refusal.reason for refusal in refusals), refusals[0].code)
        self.first = refusals[0]


@dataclass(frozen=True)
class AdmittedVideo:
    id: str
    name: str
    status: VideoStatus
    error: str | None


@dataclass(frozen=True)
class Admitted:
    """The batch made of an upload, its videos in the order of the files."""

    batch_id: str
    videos: list[AdmittedVideo]
    refused: int  # how many of them were refused at upload

    @property
    def message(self) -> str:
        queued = len(self.videos) - self.refused
        text = f"{queued} video{'s' if queued != 1 else ''} uploaded, processing started"
        if self.refused:
            text += f"; {self.refused} refused (see each video's error)"
        return text


@dataclass
class Intake:
    """Where an upload's files go: the store they were written to, the store every
    process reads from, the database, and who is told."""

    uploads: UploadStore
    videos: VideoStore
    database: Database
    changes: LiveChanges
    max_attempts: int
    owner: Viewer = OPEN  # who uploads: the batch is theirs, their quotas apply

    def admit(self, files: list[UploadedFile], choice: Choice, *, resumable: bool) -> Admitted:
        """The batch of these files, refused ones as failed videos with their reasons.
        `NothingKept` when every file was refused (nothing is kept). A `StorageError`
        while publishing deletes what the upload stored, unless it is `resumable` (tus:
        its files stay, and asking again publishes what is not in the store yet)."""
        refusals = [result.refused for result in files if result.refused is not None]
        if len(refusals) == len(files):
            self.forget(files)
            raise NothingKept(refusals)
        # The bytes of refused files are of no use.
        self.forget([result for result in files if result.refused is not None])
        kept = [result.stored for result in files if result.refused is None and result.stored]
        try:
            with self.database.read() as session:
                check_upload(
                    session,
                    self.owner,
                    videos=len(kept),
                    size=sum(stored.size for stored in kept if not stored.duplicate),
                    spends=has_models(choice.teller),
                )
        except Exception:
            if not resumable:
                self.forget(files)
            raise
        try:
            self.publish(files)
        except StorageError:
            if not resumable:
                self.forget(files)
            raise
        admitted = self._create(files, choice)
        self.changes.changed([video.id for video in admitted.videos])
        return admitted

    def check_quotas(self, *, videos: int, size: int) -> None:
        """Refuse at once (`QuotaExceeded`) what would pass the uploader's quotas of videos
        and bytes, before a byte is read. The whole check (AI dollars too, once the teller
        is known) comes when the batch is made."""
        with self.database.read() as session:
            check_upload(session, self.owner, videos=videos, size=size, spends=False)

    def own_finished(self, tus: TusStore, upload_id: str) -> TusUpload:
        """A finished resumable upload of the uploader's (`UploadUnfinished` before);
        another user's reads as one that does not exist."""
        if not self.owner.is_admin and tus.load(upload_id).owner != self.owner.id:
            raise NoSuchUpload(upload_id)
        return tus.load_finished(upload_id)

    def admit_resumable(self, tus: TusStore, listed: list[TusUpload], choice: Choice) -> Admitted:
        """The batch of finished resumable uploads (see `admit`). They are used up once
        the batch is made, or when every one is refused; a `StorageError` keeps them."""
        files = self.take_resumable(tus, listed)
        try:
            admitted = self.admit(files, choice, resumable=True)
        except NothingKept:
            _use_up(tus, listed)
            raise
        _use_up(tus, listed)
        return admitted

    def _create(self, files: list[UploadedFile], choice: Choice) -> Admitted:
        with self.database.write() as session:
            batch = crud.create_batch(
                session,
                videos=[video_create(result) for result in files],
                teller=choice.teller,
                model=choice.model,
                priority=choice.priority,
                max_attempts=self.max_attempts,
                owner_id=self.owner.id,
                notify_email=choice.notify_email,
            )
            return Admitted(
                batch_id=batch.id,
                videos=[
                    AdmittedVideo(video.id, video.original_name, video.status, video.error)
                    for video in batch.videos
                ],
                refused=sum(result.refused is not None for result in files),
            )

    def forget(self, files: list[UploadedFile]) -> None:
        """Delete the stored bytes of these files (unless they were already stored before,
        for another video) and forget them: from the video store once published there,
        else from this disk."""
        for result in files:
            stored = result.stored
            if stored is not None and not stored.duplicate:
                if result.published:
                    try:
                        self.videos.delete(stored.key)
                    except StorageError as exc:
                        log.warning("%s is left in the storage: %s", stored.key, exc.reason)
                else:
                    self.uploads.delete(stored.key)
            result.stored = None
            result.published = False

    @property
    def written_in_place(self) -> bool:
        """Whether uploads are written straight into the video store (a `local` storage)."""
        videos, uploads = self.videos, self.uploads
        return isinstance(videos, FolderStore) and videos.root.resolve() == uploads.root.resolve()

    def publish(self, files: list[UploadedFile]) -> None:
        """Put the kept files into the video store, so that a worker on any machine finds
        them. With the `local` storage they were written in its folder: nothing to do.
        With `s3`, a file counts as "already stored" (a duplicate, never deleted with this
        batch) when its object was there before: the local copy says nothing once
        published. Raises `StorageError`; what was published before it stays."""
        in_place = self.written_in_place
        for result in files:
            stored = result.stored
            if stored is None or result.refused is not None or result.published:
                continue
            if in_place:
                result.published = True
                continue
            already = self.videos.exists(stored.key)
            try:
                self.videos.publish(stored.path, stored.key)
            except FileNotFoundError:
                # Another upload of the same bytes, staged in the same place, published them.
                if not self.videos.exists(stored.key):
                    raise StorageError(
                        f"{stored.original_name}: the upload was lost before it was stored; "
                        "send it again"
                    ) from None
                already = True
            result.stored = replace(stored, duplicate=stored.duplicate or already)
            result.published = True

    def take_resumable(self, tus: TusStore, listed: list[TusUpload]) -> list[UploadedFile]:
        """Finished resumable uploads as the files of a batch: each moved into the upload
        store (with `s3` it stays where it is until it is published) and sniffed. An
        upload stored by an earlier try whose batch was not made is found in the video
        store."""
        in_place = self.written_in_place
        files = []
        for upload in listed:
            result = UploadedFile(name=upload.name)
            data = tus.data_path(upload.id)
            sha256 = upload.sha256
            key = self.uploads.key_for(sha256) if sha256 else None
            if not data.exists() and sha256 and key is not None and self.videos.exists(key):
                with self.videos.local_file(key) as moved, moved.open("rb") as opened:
                    head = opened.read(FIRST_BYTES)
                result.stored = StoredFile(
                    path=moved, key=key, size=upload.length, sha256=sha256, first_bytes=head,
                    original_name=upload.name, duplicate=True,
                )  # fmt: skip
                result.published = True
            elif in_place:
                result.stored = self.uploads.adopt(data, original_name=upload.name, sha256=sha256)
            else:
                result.stored = self.uploads.inspect(data, original_name=upload.name, sha256=sha256)
            files.append(sniffed(result))
        return files


def _use_up(tus: TusStore, listed: list[TusUpload]) -> None:
    for upload in listed:
        tus.delete(upload.id)


def sniffed(result: UploadedFile) -> UploadedFile:
    """Refuse a stored file whose first bytes show it is not a video."""
    if result.stored is not None:
        try:
            check_video(result.stored.first_bytes, name=result.name)
        except NotAVideo as refusal:
            result.refused = refusal
    return result


def video_create(result: UploadedFile) -> crud.VideoCreate:
    if result.refused is not None or result.stored is None:
        reason = result.refused.reason if result.refused else "the file was not stored"
        code = result.refused.code if result.refused else "refused"
        return crud.VideoCreate(
            original_name=result.name, size_bytes=0, content_hash="", storage_path="",
            error=reason, error_code=code,
        )  # fmt: skip
    stored = result.stored
    return crud.VideoCreate(
        original_name=result.name,
        size_bytes=stored.size,
        content_hash=stored.sha256,
        storage_path=stored.key,
    )

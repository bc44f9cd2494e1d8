"""The portal as a station worker on another machine reaches it: over HTTP, with its own token.

Packages are fetched the first time a session needs them and verified on the station like any
other (`hw.flash_files.store_package_archive`); a session's frame log is handed in when the
session ends. Refusals (a replaced token, a package the portal does not have) are final and
name the reason; an unreachable portal is retried like any transient fault.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from temporalio.exceptions import ApplicationError

from hw.flash_files import ArchiveBounds, store_package_archive


class PortalFiles:
    def __init__(
        self,
        portal_url: str,
        station_id: str,
        token: str,
        package_bounds: ArchiveBounds,
        timeout: float = 120,
    ) -> None:
        self.station_id = station_id
        self.package_bounds = package_bounds  # what a fetched package may unpack to
        self._client = httpx.Client(
            base_url=portal_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def fetch_package(self, package_id: str, root: Path) -> None:
        """Fetch the package into `root`, verified there; whole or not at all."""
        path = f"/stations/{self.station_id}/packages/{package_id}/archive"
        archive = self._call("GET", path, f"package {package_id}").content
        store_package_archive(root, archive, self.package_bounds)

    def hand_in_traces(self, session_id: str, folder: Path) -> int:
        """Hand in every file of the session's frame log; the number of files."""
        files = sorted(folder.glob("*.asc")) if folder.is_dir() else []
        for file in files:
            with file.open("rb") as body:
                self._call(
                    "PUT",
                    f"/stations/{self.station_id}/traces/{session_id}/{file.name}",
                    f"frame log {file.name}",
                    content=body,
                )
        return len(files)

    def _call(self, method: str, path: str, what: str, **kwargs: object) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as error:
            raise ApplicationError(
                f"the portal is unreachable for {what}: {error}", type="portal-unreachable"
            ) from error
        if response.is_success:
            return response
        try:
            detail = str(response.json().get("detail", response.text))
        except ValueError:
            detail = response.text
        retryable = response.status_code >= 500 or response.status_code == 429
        raise ApplicationError(
            f"the portal refused {what} ({response.status_code}): {detail}",
            {"status": response.status_code},
            type="portal-unreachable" if retryable else "portal-refused",
            non_retryable=not retryable,
        )

    def close(self) -> None:
        self._client.close()

"""Settings of a data agent's results deliveries (storage destinations): where a Rucio upload lands first,
and the S3 credentials it puts with. Mixed into RucioSettings (EB_RESULTS_* variables)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class ResultsSettings(BaseModel):
    results_rse: str | None = Field(None, description="the site's RSE a Rucio upload writes to, a replication rule "
                                                      "then keeping the files on the destination's RSE; empty: "
                                                      "upload straight to the destination's RSE")
    results_rse_lifetime: int | None = Field(7 * 86400, description="seconds the upload's own rule keeps the files "
                                                                    "on results_rse (when it is not the destination)")
    results_s3_endpoint: str | None = Field(None, description="S3 service of a destination that names none; "
                                                              "default: the site's own (EB_S3_ENDPOINT)")
    results_s3_access_key: str | None = Field(None, description="access key the results are put with at "
                                                                "results_s3_endpoint (default: the site's own); "
                                                                "unset: the site's S3 keys of the endpoint")
    results_s3_secret_key: SecretStr | None = None
    results_timeout: float = Field(60.0, gt=0, description="seconds for one file's upload call with the "
                                                     "results keys or at an endpoint the site does not know "
                                                     "(at the site's S3 endpoints: s3_timeout)")
    results_retention: float = Field(3600.0, gt=0, description="seconds a finished delivery's answer is kept "
                                                               "(asked again, it is answered, not done again)")

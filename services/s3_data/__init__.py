"""S3 data at a site: where an `S3-data-resource` is relative to the site's own S3 endpoint, how big it is,
and copying it into the site's staging bucket when it is elsewhere. The site's data agent
(services/rucio_agent) uses it beside Rucio; an SRC's S3 endpoint is a data site as an RSE is.

- settings.py: the EB_S3_* settings (a mixin of the data agent's settings);
- resource.py: an S3-data-resource read into endpoint, bucket and key or prefix (bad ones name the field);
- endpoints.py: which endpoints are the site's own, which it copies from, and their boto3 clients;
- objects.py: what is there (HEAD an object, list and sum a prefix or bucket);
- locality.py: LOCAL / STAGE (with an estimate) / NO for one item;
- rules.py and copier.py: staging by copy, as "rules" any replica can follow (and resume).

boto3 (the `s3` extra) is imported only once an S3 endpoint is configured.
"""

"""The objects of the production scenario's bucket, listed with the server's
S3 key (boto3 from the server's venv), as JSON; with --sha256 each object's
content digest too.

    bucket_objects.py ENDPOINT KEY SECRET BUCKET [--sha256]
"""

import hashlib
import json
import sys

import boto3

endpoint, key, secret, bucket = sys.argv[1:5]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    aws_access_key_id=key,
    aws_secret_access_key=secret,
    region_name="us-east-1",
)
objects = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
    for item in page.get("Contents", []):
        found = {"key": item["Key"], "size": item["Size"], "etag": item["ETag"]}
        if "--sha256" in sys.argv[5:]:
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"]
            found["sha256"] = hashlib.sha256(body.read()).hexdigest()
        objects.append(found)
print(json.dumps(objects))

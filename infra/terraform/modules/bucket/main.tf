# The image bucket. The storage worker writes `scans/<scan id>/original.<jpg|png>` and
# `scans/<scan id>/thumbnail.<jpg|png>` (bunri.storage.scan_object_key) and never overwrites them
# (conditional puts); scan-api reads them back or hands out presigned GETs. Profile photos go under
# `profiles/<user id>/<upload>/<size>.jpg` (bunri.storage.profile_photo_key), presigned by my-api;
# the storage worker deletes both kinds when an account is erased. Nothing is public.

resource "aws_s3_bucket" "this" {
  bucket        = var.bucket_name
  force_destroy = var.force_destroy

  tags = { Name = var.bucket_name }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# ACLs off: the bucket owner owns every object, access is decided by IAM and the bucket policy.
resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# SSE-S3 rather than SSE-KMS: encrypted at rest either way, but no KMS request charge per GET and
# PUT, and neither the node roles nor presigned URLs need KMS grants.
resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

# Objects are written once, so versions pile up only from deletions: versioning keeps a deleted
# image recoverable for noncurrent_version_days.
resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid     = "DenyOldTls"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "tls_only" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.tls_only.json

  # A bucket policy put before the public access block can be refused as "public" while the
  # block is being applied; order them.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# The variant sits after the scan id in the key (scans/<id>/original.jpg), so no prefix filter can
# tell originals from thumbnails; object size can. Originals are re-encoded photos (hundreds of KB);
# thumbnails (320 px) are a few tens of KB. Standard-IA and Glacier IR bill at least 128 KiB per
# object and every transition costs a request, so moving a thumbnail would cost more than it saves:
# thumbnails (128 KiB and under) stay in Standard, where the app lists them often, and expire only
# if thumbnail_expiration_days is set.
resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "originals-to-colder-storage"
    status = "Enabled"

    filter {
      and {
        prefix                   = "scans/"
        object_size_greater_than = var.thumbnail_max_bytes
      }
    }

    transition {
      days          = var.original_infrequent_access_after_days
      storage_class = "STANDARD_IA"
    }

    transition {
      days          = var.original_glacier_ir_after_days
      storage_class = "GLACIER_IR"
    }

    dynamic "expiration" {
      for_each = var.original_expiration_days == null ? [] : [var.original_expiration_days]
      content {
        days = expiration.value
      }
    }
  }

  dynamic "rule" {
    for_each = var.thumbnail_expiration_days == null ? [] : [var.thumbnail_expiration_days]
    content {
      id     = "thumbnails-expire"
      status = "Enabled"

      filter {
        and {
          prefix                = "scans/"
          object_size_less_than = var.thumbnail_max_bytes + 1
        }
      }

      expiration {
        days = rule.value
      }
    }
  }

  rule {
    id     = "deleted-versions-and-stale-uploads"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }

    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

terraform {
  # OpenTofu 1.6+ reads this configuration too.
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State holds the generated service passwords: keep it in an encrypted, versioned S3 bucket
  # rather than on a laptop. Create the bucket once, then uncomment and `terraform init -migrate-state`.
  # backend "s3" {
  #   bucket       = "my-terraform-state-bucket"
  #   key          = "bunri/prod/terraform.tfstate"
  #   region       = "ap-northeast-2"
  #   encrypt      = true
  #   use_lockfile = true
  # }
}

terraform {
  required_version = ">= 1.5.0"

  # No backend block: local state. Add your own (e.g. "s3") before a shared deployment.

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "imapapi"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

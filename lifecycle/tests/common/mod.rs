//! Helpers of the CodeBuild tests on moto.

use aws_sdk_codebuild::types::*;

/// The environment of the lifecycle's projects (image, compute).
pub fn lifecycle_environment() -> ProjectEnvironment {
    ProjectEnvironment::builder()
        .r#type(EnvironmentType::LinuxContainer)
        .image("aws/codebuild/amazonlinux-x86_64-standard:5.0")
        .compute_type(ComputeType::BuildGeneral1Small)
        .build()
        .unwrap()
}

/// Creates a NO_SOURCE project with `spec`, `environment` and `role`, as a deployment (or a
/// holder) would; moto wants a source location even for NO_SOURCE, so one is given.
pub async fn create_project(
    cb: &aws_sdk_codebuild::Client,
    name: &str,
    spec: &str,
    environment: ProjectEnvironment,
    role: &str,
) {
    cb.create_project()
        .name(name)
        .source(
            ProjectSource::builder()
                .r#type(SourceType::NoSource)
                .location("buildspecs")
                .buildspec(spec)
                .build()
                .unwrap(),
        )
        .artifacts(
            ProjectArtifacts::builder()
                .r#type(ArtifactsType::NoArtifacts)
                .build()
                .unwrap(),
        )
        .environment(environment)
        .service_role(role)
        .send()
        .await
        .unwrap();
}

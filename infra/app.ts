/** `npx cdk deploy -c alertEmail=ops@example.com` runs this (cdk.json `app`). */
import { buildApp } from './pipeline-app.ts';

buildApp().app.synth();

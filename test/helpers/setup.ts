// Runs before every test file: tests must not depend on the developer's environment.
for (const k of Object.keys(process.env)) {
  if (k.startsWith('CNB_') || k === 'DOCKER_CONFIG' || k === 'SOURCE_DATE_EPOCH') delete process.env[k];
}

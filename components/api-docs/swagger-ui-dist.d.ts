declare module "swagger-ui-dist/swagger-ui-es-bundle.js" {
  const SwaggerUIBundle: (opts: Record<string, unknown>) => unknown;
  export default SwaggerUIBundle;
}

// tests/openapi/validate.js DOC: OpenAPI 3.0 validation of DOC (structure,
// schemas, $refs) by @apidevtools/swagger-parser; exit 1 with its complaints.
const SwaggerParser = require("@apidevtools/swagger-parser");
SwaggerParser.validate(process.argv[2]).then(
    (api) => console.log(`valid OpenAPI ${api.openapi}: ${api.info.title}`),
    (err) => {
        console.error(err.message);
        process.exit(1);
    });

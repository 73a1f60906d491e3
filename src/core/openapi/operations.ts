import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

import type { FieldError } from '../problem.js';
import { describeViolations, type SchemaViolation } from '../validation-errors.js';
import { addBranchCoercionKeywords, isolateBranchCoercion } from './branch-coercion.js';
import { withDraft7ExclusiveBounds } from './exclusive-bounds.js';
import { compileFormBody, FORM_MEDIA_TYPE, hasLiteralSemicolon, isOpaqueBodySchema, isUtf8FormBody } from './form-body.js';
import { hasInexactNumber, isJsonMediaType, mediaType, nonUtf8Charset, parseJsonBody } from './json-body.js';
import { isJsonObject } from './json-object.js';
import { parameterReading, repeatedListViolations, splitCommaSeparated } from './parameter-style.js';
import { checkTextForms, type TextType, type TextTypes } from './parameter-text.js';
import { toRequestSchema } from './request-schema.js';
import { checkSchemaForms } from './schema-forms.js';
import { compileResponses, type ResponseRules } from './response-schema.js';
import { checkDistinctPaths, parseRoutePath, RoutePathError, type RoutePath } from './route-path.js';
import { textTypesOf } from './text-types.js';

// ajv-formats is published as CommonJS with the plugin on `default`.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

export type CredentialKind = 'jwt' | 'api_key';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** The parts of a request that an operation's validator checks. */
export interface RequestParts {
  params: Record<string, string>;
  query: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
  contentType: string | undefined;
  body: Buffer | undefined;
}

/** A request's breach of its operation's declaration. */
export interface RequestViolation {
  code: 'validation_failed' | 'invalid_json' | 'unsupported_media_type' | 'invalid_request';
  detail: string;
  errors?: FieldError[];
}

/** An operation of the upstream, as the gateway enforces it. */
export interface CompiledOperation {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path template in Fastify syntax, relative to the mount path (`/orders/:id`). */
  path: string;
  /** The path template as the document declares it, compiled for the router and the upstream path. */
  route: RoutePath;
  operationId: string | undefined;
  scopes: string[];
  roles: string[];
  /** Credential kinds accepted; empty when the operation declares no security requirement. */
  credentials: CredentialKind[];
  /** Whether the operation declares `deprecated: true`. */
  deprecated: boolean;
  /** Names of the header parameters, as the document spells them. */
  headerParameters: string[];
  /** Names of the cookie parameters, which the gateway does not check. */
  cookieParameters: string[];
  /** Names of the query parameters; a query with any other name is refused. */
  queryParameters: string[];
  /** Whether the operation declares a JSON media type for its request body. */
  jsonRequestBody: boolean;
  /** The request form (see toRequestSchema) of each JSON media type's schema; `true` for one without a schema. */
  jsonBodySchemas: unknown[];
  validate(parts: RequestParts): RequestViolation | undefined;
  /** The declared responses, which the gateway checks before relaying the upstream's. */
  responses: ResponseRules;
}

/** An OpenAPI document the gateway cannot enforce; the message names the operation and the reason. */
export class OpenApiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OpenApiError';
  }
}

type JsonObject = Record<string, unknown>;

/**
 * Runs `compile` on the schemas of the part of an operation that `where`
 * names. An error of ajv, such as an unknown type or an invalid regular
 * expression, becomes an OpenApiError that names that part.
 */
export function compilingSchemasOf<T>(where: string, compile: () => T): T {
  try {
    return compile();
  } catch (error) {
    if (error instanceof OpenApiError) {
      throw error;
    }
    const reason = (error as Error).message.replace(/^schema is invalid: /, '');
    throw new OpenApiError(`${where}: the schema is invalid: ${reason}`);
  }
}

/**
 * Returns the entries of an OpenAPI `content` map keyed by media type
 * alone, lower-cased and without parameters. A document generated from
 * code that names a charset in its media type has keys such as
 * `application/json;charset=UTF-8`, and a body is matched by its media type. Throws OpenApiError when two keys
 * name one media type, because either schema could then apply.
 */
export function mediaTypeEntries(where: string, content: JsonObject): Array<[type: string, media: unknown]> {
  const entries = new Map<string, unknown>();
  for (const [key, media] of Object.entries(content)) {
    const type = mediaType(key) ?? '';
    if (entries.has(type)) {
      throw new OpenApiError(`${where} declares the media type ${type} twice, with and without parameters or in another case; keep one of them`);
    }
    entries.set(type, media);
  }
  return [...entries];
}

/** Options of compileOperations. */
export interface CompileOptions {
  /**
   * Receives each distinct warning of the schema compiler, such as a
   * `format` it does not know and therefore does not check. ajv would
   * print them as plain text on standard error.
   */
  onWarning?: (message: string) => void;
}

/** Returns an ajv logger that hands each distinct warning to `onWarning` once. */
function warningLogger(onWarning: ((message: string) => void) | undefined) {
  const seen = new Set<string>();
  const warn = (...args: unknown[]) => {
    const message = args.map(String).join(' ');
    if (!seen.has(message)) {
      seen.add(message);
      onWarning?.(message);
    }
  };
  return { log: () => undefined, warn, error: warn };
}

/**
 * Creates an ajv instance for the document's JSON Schema dialect. Bodies are
 * validated without coercion; path, query and header values arrive as text
 * and are coerced to their declared types. `strictNumbers` makes NaN and
 * Infinity fail `number` and `integer`, as a JSON body's `1e400` parses to
 * Infinity.
 */
function createValidatorFactory(version: string, coerceTypes: false | 'array', logger: ReturnType<typeof warningLogger>): Ajv {
  const options = { strict: false, allErrors: true, coerceTypes, useDefaults: false, strictNumbers: true, logger } as const;
  const ajv = version.startsWith('3.1') ? new Ajv2020(options) : new Ajv(options);
  addFormats(ajv);
  if (coerceTypes !== false) {
    addBranchCoercionKeywords(ajv);
  }
  return ajv;
}

function compilePath(path: string): RoutePath {
  try {
    return parseRoutePath(path);
  } catch (error) {
    throw error instanceof RoutePathError ? new OpenApiError(error.message) : error;
  }
}

/**
 * Throws OpenApiError unless the operation declares exactly the path
 * parameters of its template. A declared parameter missing from the
 * template would fail every request as missing, and a template parameter
 * without a declaration would reach the upstream unchecked.
 */
function checkPathParameters(operationName: string, route: RoutePath, parameters: JsonObject[]): void {
  const declared = parameters.filter((parameter) => parameter['in'] === 'path').map((parameter) => String(parameter['name']));
  const undeclared = route.parameters.find((name) => !declared.includes(name));
  if (undeclared !== undefined) {
    throw new OpenApiError(`${operationName}: the path parameter '${undeclared}' is not declared in parameters`);
  }
  const absent = declared.find((name) => !route.parameters.includes(name));
  if (absent !== undefined) {
    throw new OpenApiError(`${operationName}: the path parameter '${absent}' does not appear in the path`);
  }
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((entry) => typeof entry === 'string');
}

/**
 * Returns the roles of `x-portcullis-roles`. Throws OpenApiError for a
 * value other than a list of strings, such as `admin` written as text,
 * which would otherwise require no role.
 */
function rolesOf(operationName: string, roles: unknown): string[] {
  if (roles === undefined) {
    return [];
  }
  if (!isStringList(roles)) {
    throw new OpenApiError(`${operationName}: x-portcullis-roles must be a list of strings, such as [admin]`);
  }
  return roles;
}

/** Returns the credential kind of a security scheme, or throws OpenApiError for a scheme the gateway cannot check. */
function credentialKindOf(operationName: string, schemeName: string, scheme: unknown): CredentialKind {
  if (!isJsonObject(scheme)) {
    throw new OpenApiError(`${operationName} names the unknown security scheme '${schemeName}'`);
  }

  const type = scheme['type'];
  if (type === 'apiKey') {
    return 'api_key';
  }
  if (type === 'oauth2' || type === 'openIdConnect' || (type === 'http' && String(scheme['scheme']).toLowerCase() === 'bearer')) {
    return 'jwt';
  }
  throw new OpenApiError(`${operationName}: security scheme '${schemeName}' of type '${String(type)}' is not supported`);
}

/**
 * Maps the security requirements of an operation to credential kinds and
 * required scopes. An operation without requirements, or with an empty one
 * (which makes credentials optional), gets no credential kinds: the gateway
 * serves it only when the configuration marks it public.
 *
 * The requirements of the list are alternatives, but the schemes of one
 * requirement must all be satisfied. The gateway reads one credential per
 * request, so a requirement that names schemes of both kinds (an access
 * token and an API key together) throws OpenApiError: accepting either
 * credential alone would admit requests that the document rejects.
 */
function securityOf(operationName: string, requirements: unknown, schemes: JsonObject): { credentials: CredentialKind[]; scopes: string[] } {
  if (requirements === undefined) {
    return { credentials: [], scopes: [] };
  }
  if (!Array.isArray(requirements) || !requirements.every(isJsonObject)) {
    throw new OpenApiError(`${operationName}: security must be a list of security requirement objects, such as [{ oauth: [orders:read] }]`);
  }
  if (requirements.length === 0 || requirements.some((entry) => Object.keys(entry).length === 0)) {
    return { credentials: [], scopes: [] };
  }

  const credentials = new Set<CredentialKind>();
  const scopes = new Set<string>();
  for (const requirement of requirements as JsonObject[]) {
    const kinds = new Map<CredentialKind, string>();
    for (const [schemeName, schemeScopes] of Object.entries(requirement)) {
      const kind = credentialKindOf(operationName, schemeName, schemes[schemeName]);
      const otherScheme = [...kinds].find(([otherKind]) => otherKind !== kind)?.[1];
      if (otherScheme !== undefined) {
        throw new OpenApiError(
          `${operationName}: a security requirement names '${otherScheme}' and '${schemeName}' together, so a request would need an access token and an API key, ` +
            'but the gateway reads one credential per request. List the schemes as separate requirements (alternatives), or keep one of them',
        );
      }
      kinds.set(kind, schemeName);
      credentials.add(kind);

      // A scope list written as text would otherwise require no scope at all.
      if (!isStringList(schemeScopes)) {
        throw new OpenApiError(`${operationName}: the scopes of security scheme '${schemeName}' must be a list of strings, such as [orders:read]`);
      }
      for (const scope of schemeScopes) {
        scopes.add(scope);
      }
    }
  }

  return { credentials: [...credentials], scopes: [...scopes] };
}

interface ParameterSet {
  path: ValidateFunction | undefined;
  query: ValidateFunction | undefined;
  headers: ValidateFunction | undefined;
  /** Typed parameters of each location, whose text is checked before ajv coerces it. */
  textTypes: Record<'path' | 'query' | 'headers', TextTypes>;
  /** Array parameters of each location whose value is a comma-separated list. */
  commaSeparated: Record<'path' | 'query' | 'headers', ReadonlySet<string>>;
}

interface ParameterGroup {
  properties: JsonObject;
  required: string[];
  textTypes: Map<string, readonly TextType[]>;
  commaSeparated: Set<string>;
}

/**
 * Header parameters that OpenAPI 3 requires tools to ignore: the media types of the
 * request body and responses describe Content-Type and Accept, and the
 * security schemes describe Authorization.
 */
const IGNORED_HEADER_PARAMETERS: ReadonlySet<string> = new Set(['accept', 'content-type', 'authorization']);

/**
 * Throws OpenApiError unless every parameter is an object with a name and
 * a location. Anything else would otherwise stop the start with a
 * TypeError that names neither the operation nor the parameter.
 */
function checkParameterObjects(operationName: string, parameters: unknown[]): asserts parameters is JsonObject[] {
  parameters.forEach((parameter, index) => {
    if (!isJsonObject(parameter) || typeof parameter['name'] !== 'string' || parameter['name'] === '' || typeof parameter['in'] !== 'string') {
      throw new OpenApiError(`${operationName}: parameter ${index} must be an object with a name and an in, such as { name: limit, in: query }`);
    }
  });
}

function isIgnoredHeaderParameter(parameter: JsonObject): boolean {
  return parameter['in'] === 'header' && IGNORED_HEADER_PARAMETERS.has(String(parameter['name']).toLowerCase());
}

function compileParameters(ajv: Ajv, operationName: string, parameters: JsonObject[]): ParameterSet {
  const group = (): ParameterGroup => ({ properties: {}, required: [], textTypes: new Map(), commaSeparated: new Set() });
  const groups: Record<'path' | 'query' | 'header', ParameterGroup> = { path: group(), query: group(), header: group() };

  for (const parameter of parameters) {
    const location = parameter['in'];
    if (location !== 'path' && location !== 'query' && location !== 'header') {
      continue;
    }
    const name = location === 'header' ? String(parameter['name']).toLowerCase() : String(parameter['name']);
    const schema = isJsonObject(parameter['schema']) ? parameter['schema'] : {};
    const reading = parameterReading(location, parameter, schema);
    if (!reading.ok) {
      throw new OpenApiError(`${operationName}: ${location} parameter '${String(parameter['name'])}' ${reading.reason}`);
    }
    if (reading.commaSeparated) {
      groups[location].commaSeparated.add(name);
    }

    groups[location].properties[name] = isolateBranchCoercion(schema);
    const textTypes = textTypesOf(schema);
    if (textTypes !== undefined) {
      groups[location].textTypes.set(name, textTypes);
    }
    if (parameter['required'] === true || location === 'path') {
      groups[location].required.push(name);
    }
  }

  const compile = (group: { properties: JsonObject; required: string[] }, closed: boolean) =>
    ajv.compile({ type: 'object', properties: group.properties, required: group.required, additionalProperties: !closed });

  // Path and query parameters arrive as text; ajv coerces them to the
  // declared types in a separate instance configured for it.
  return {
    path: compile(groups.path, false),
    query: compile(groups.query, true),
    headers: Object.keys(groups.header.properties).length === 0 ? undefined : compile(groups.header, false),
    textTypes: { path: groups.path.textTypes, query: groups.query.textTypes, headers: groups.header.textTypes },
    commaSeparated: { path: groups.path.commaSeparated, query: groups.query.commaSeparated, headers: groups.header.commaSeparated },
  };
}

/** Checks the text forms of one location's typed parameters, then its schema, which coerces `values` in place. */
function checkParameters(location: 'path' | 'query' | 'headers', values: Record<string, unknown>, parameters: ParameterSet): RequestViolation | undefined {
  const repeated = repeatedListViolations(values, parameters.commaSeparated[location]);
  if (repeated.length > 0) {
    return violation(location, repeated);
  }
  splitCommaSeparated(values, parameters.commaSeparated[location], location === 'headers' ? 'header' : location);
  const forms = checkTextForms(values, parameters.textTypes[location]);
  if (forms.length > 0) {
    return violation(location, forms);
  }

  const validate = parameters[location];
  if (validate !== undefined && !validate(values)) {
    return violation(location, validate.errors as SchemaViolation[]);
  }
  return undefined;
}

function violation(location: string, errors: SchemaViolation[] | null | undefined): RequestViolation {
  const { detail, errors: fields } = describeViolations(errors ?? [], location);
  return { code: 'validation_failed', detail, errors: fields };
}

/**
 * Tells whether the parameters of a Content-Type contain `/json` or
 * `+json`. Laravel's Request::isJson looks for these anywhere in the
 * header, so it would read a body sent as `multipart/form-data;
 * boundary=x; y=/json` as JSON, which the gateway forwards unchecked.
 */
function namesJsonInParameters(contentType: string): boolean {
  const parameters = contentType.slice(contentType.indexOf(';') + 1).toLowerCase();
  return contentType.includes(';') && (parameters.includes('/json') || parameters.includes('+json'));
}

/**
 * Compiles every operation of a dereferenced OpenAPI 3.0 or 3.1 document
 * into the rules the gateway enforces: its route, the credential kinds and
 * scopes from its security requirements, the roles from
 * `x-portcullis-roles`, its `deprecated` flag, and a validator for its
 * parameters and body.
 * Throws OpenApiError for an operation that cannot be enforced.
 */
export function compileOperations(source: JsonObject, options: CompileOptions = {}): CompiledOperation[] {
  const version = String(source['openapi'] ?? '');
  if (!/^3\.[01]\./.test(version)) {
    throw new OpenApiError(`the document declares openapi '${version}'; versions 3.0 and 3.1 are supported`);
  }
  const document = version.startsWith('3.0') ? withDraft7ExclusiveBounds(source) : source;

  const logger = warningLogger(options.onWarning);
  const bodies = createValidatorFactory(version, false, logger);
  const textAjv = createValidatorFactory(version, 'array', logger);

  // Roles there would look like a default for every operation, as a
  // top-level `security` is, but the gateway reads them per operation only.
  for (const [where, holder] of [['the top of the document', document], ['paths', document['paths']]] as const) {
    if (isJsonObject(holder) && holder['x-portcullis-roles'] !== undefined) {
      throw new OpenApiError(`x-portcullis-roles at ${where} would require no role, because it applies to operations only; put it on each operation that needs it`);
    }
  }

  const components = isJsonObject(document['components']) ? document['components'] : {};
  const schemes = isJsonObject(components['securitySchemes']) ? components['securitySchemes'] : {};
  const paths = isJsonObject(document['paths']) ? document['paths'] : {};
  const operations: CompiledOperation[] = [];
  const routes: RoutePath[] = [];

  for (const [path, item] of Object.entries(paths)) {
    if (!isJsonObject(item)) {
      continue;
    }
    if (item['x-portcullis-roles'] !== undefined) {
      throw new OpenApiError(`${path}: x-portcullis-roles applies to operations only, so put it on each operation of the path`);
    }
    const route = compilePath(path);
    routes.push(route);
    const sharedParameters = Array.isArray(item['parameters']) ? (item['parameters'] as unknown[]) : [];

    for (const method of METHODS) {
      const operation = item[method];
      if (!isJsonObject(operation)) {
        continue;
      }

      const name = `${method.toUpperCase()} ${path}`;
      const { credentials, scopes } = securityOf(name, operation['security'] ?? document['security'], schemes);
      const roles = rolesOf(name, operation['x-portcullis-roles']);
      const declaredParameters = [...sharedParameters, ...(Array.isArray(operation['parameters']) ? (operation['parameters'] as unknown[]) : [])];
      checkParameterObjects(name, declaredParameters);
      const checkedParameters = declaredParameters.filter((parameter) => !isIgnoredHeaderParameter(parameter));
      checkPathParameters(name, route, checkedParameters);
      const parameters = compilingSchemasOf(`${name}: parameters`, () => compileParameters(textAjv, name, checkedParameters));
      const validateBody = compileBody(bodies, textAjv, name, operation['requestBody']);
      const responses = compileResponses(bodies, name, operation['responses']);

      operations.push({
        method: method.toUpperCase() as CompiledOperation['method'],
        path: route.router,
        route,
        operationId: typeof operation['operationId'] === 'string' ? operation['operationId'] : undefined,
        scopes,
        roles,
        credentials,
        deprecated: operation['deprecated'] === true,
        headerParameters: checkedParameters.filter((parameter) => parameter['in'] === 'header').map((parameter) => String(parameter['name'])),
        cookieParameters: checkedParameters.filter((parameter) => parameter['in'] === 'cookie').map((parameter) => String(parameter['name'])),
        queryParameters: checkedParameters.filter((parameter) => parameter['in'] === 'query').map((parameter) => String(parameter['name'])),
        jsonRequestBody: declaresJsonBody(operation['requestBody']),
        jsonBodySchemas: jsonBodySchemas(operation['requestBody']),
        validate(parts) {
          return (
            checkParameters('path', { ...parts.params }, parameters) ??
            checkParameters('query', { ...parts.query }, parameters) ??
            checkParameters('headers', { ...parts.headers }, parameters) ??
            validateBody(parts)
          );
        },
        responses,
      });
    }
  }

  if (operations.length === 0) {
    throw new OpenApiError('the document declares no operations');
  }
  try {
    checkDistinctPaths(routes);
  } catch (error) {
    throw error instanceof RoutePathError ? new OpenApiError(error.message) : error;
  }
  return operations;
}

/** Checks a request body of one media type, given its bytes and Content-Type. */
type BodyCheck = (body: Buffer, contentType: string) => RequestViolation | undefined;

/** Rejects a charset other than UTF-8 (see nonUtf8Charset). */
function checkCharset(contentType: string, kind: string): RequestViolation | undefined {
  const charset = nonUtf8Charset(contentType);
  return charset === undefined ? undefined : { code: 'unsupported_media_type', detail: `The charset of a ${kind} body must be utf-8, not '${charset}'.` };
}

function checkJsonBody(validate: ValidateFunction): BodyCheck {
  return (body, contentType) => {
    const wrongCharset = checkCharset(contentType, 'JSON');
    if (wrongCharset !== undefined) {
      return wrongCharset;
    }

    const parsed = parseJsonBody(body);
    if (!parsed.ok) {
      return { code: 'invalid_json', detail: parsed.detail };
    }
    if (!validate(parsed.value)) {
      return violation('body', validate.errors as SchemaViolation[]);
    }

    // The schema saw the double that JSON.parse read, but the upstream gets
    // the text, so `1.0000000000000001` would pass `enum: [1]` and
    // `-1e-400` would pass `minimum: 0`.
    if (hasInexactNumber(parsed.text)) {
      return {
        code: 'invalid_json',
        detail:
          'The request body has a number with more significant digits or a wider range than a double holds exactly, which parsers read differently. Send it with at most 15 significant digits, or as a string.',
      };
    }
    return undefined;
  };
}

function checkFormBody(checkForm: (body: Buffer) => SchemaViolation[] | undefined): BodyCheck {
  return (body, contentType) => {
    const wrongCharset = checkCharset(contentType, 'form');
    if (wrongCharset !== undefined) {
      return wrongCharset;
    }
    if (!isUtf8FormBody(body)) {
      return { code: 'invalid_request', detail: 'The request body is not valid form data: it is not valid UTF-8.' };
    }
    if (hasLiteralSemicolon(body)) {
      return {
        code: 'invalid_request',
        detail: "The request body is not valid form data: it contains a literal ';', which some servers read as a field separator. Percent-encode it as %3B.",
      };
    }

    const errors = checkForm(body);
    return errors === undefined ? undefined : violation('body', errors);
  };
}

/**
 * Compiles the check of one declared media type, or returns undefined for
 * a body forwarded unchecked. JSON bodies are checked with `bodies`, form
 * bodies with `texts`, which coerces text. Throws OpenApiError for a schema
 * on any other media type, which the gateway cannot parse.
 */
function compileMediaType(bodies: Ajv, texts: Ajv, name: string, type: string, schema: JsonObject | undefined): BodyCheck | undefined {
  const where = `${name}: request body ${type}`;
  if (isJsonMediaType(type)) {
    if (schema === undefined) {
      return undefined;
    }
    return checkJsonBody(
      compilingSchemasOf(where, () => {
        checkSchemaForms(schema);
        return bodies.compile(toRequestSchema(schema) as JsonObject);
      }),
    );
  }

  if (type === FORM_MEDIA_TYPE && schema !== undefined) {
    return checkFormBody(
      compilingSchemasOf(where, () => {
        checkSchemaForms(schema);
        return compileFormBody(texts, schema);
      }),
    );
  }

  if (!isOpaqueBodySchema(schema)) {
    throw new OpenApiError(
      `${name}: the gateway cannot check ${type} request bodies against a schema; ` +
        `declare ${type} without a schema, or with a string schema, to forward its bodies unchecked`,
    );
  }
  return undefined;
}

function declaresJsonBody(requestBody: unknown): boolean {
  const content = isJsonObject(requestBody) && isJsonObject(requestBody['content']) ? requestBody['content'] : {};
  return Object.keys(content).some((type) => isJsonMediaType(mediaType(type) ?? ''));
}

function jsonBodySchemas(requestBody: unknown): unknown[] {
  const content = isJsonObject(requestBody) && isJsonObject(requestBody['content']) ? requestBody['content'] : {};
  return Object.entries(content)
    .filter(([type]) => isJsonMediaType(mediaType(type) ?? ''))
    .map(([, media]) => (isJsonObject(media) && isJsonObject(media['schema']) ? toRequestSchema(media['schema']) : true));
}

function compileBody(bodies: Ajv, texts: Ajv, name: string, requestBody: unknown): (parts: RequestParts) => RequestViolation | undefined {
  if (!isJsonObject(requestBody)) {
    return (parts) =>
      parts.body !== undefined && parts.body.length > 0 ? { code: 'invalid_request', detail: `${name} takes no request body.` } : undefined;
  }

  const content = isJsonObject(requestBody['content']) ? requestBody['content'] : {};
  const required = requestBody['required'] === true;
  const checks = new Map<string, BodyCheck | undefined>();
  for (const [type, media] of mediaTypeEntries(`${name}: request body`, content)) {
    const schema = isJsonObject(media) && isJsonObject(media['schema']) ? media['schema'] : undefined;
    checks.set(type, compileMediaType(bodies, texts, name, type, schema));
  }
  const accepted = [...checks.keys()].join(', ');

  return (parts) => {
    if (parts.body === undefined || parts.body.length === 0) {
      return required ? { code: 'invalid_request', detail: `${name} requires a request body (${accepted}).` } : undefined;
    }

    const type = mediaType(parts.contentType);
    if (type === undefined || !checks.has(type)) {
      return { code: 'unsupported_media_type', detail: `The Content-Type must be one of: ${accepted}.` };
    }
    if (!isJsonMediaType(type) && namesJsonInParameters(parts.contentType as string)) {
      return {
        code: 'unsupported_media_type',
        detail: 'The Content-Type names JSON in a parameter of another media type, which some servers read as JSON. Send a JSON body as application/json.',
      };
    }

    return checks.get(type)?.(parts.body, parts.contentType as string);
  };
}

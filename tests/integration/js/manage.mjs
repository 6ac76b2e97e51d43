// The AWS SDK for JavaScript v3 against the local @connections API, unchanged:
//   node manage.mjs ENDPOINT CONNECTION_ID
// Posts a message, reads the connection, posts to an unknown id, deletes the connection,
// and prints what each step answered as one JSON object.
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";

const [endpoint, connectionId] = process.argv.slice(2);
const client = new ApiGatewayManagementApiClient({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "local", secretAccessKey: "local" },
});

const outcome = async (command) => {
  try {
    const answer = await client.send(command);
    return { status: answer.$metadata.httpStatusCode, answer };
  } catch (error) {
    return { status: error.$metadata?.httpStatusCode, error: error.name };
  }
};

const data = new TextEncoder().encode(JSON.stringify({ from: "js-sdk" }));
const result = {
  post: await outcome(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data })),
  get: await outcome(new GetConnectionCommand({ ConnectionId: connectionId })),
  gone: await outcome(new PostToConnectionCommand({ ConnectionId: "AAAAAAAAAAAAAAA=", Data: data })),
  delete: await outcome(new DeleteConnectionCommand({ ConnectionId: connectionId })),
};
console.log(JSON.stringify(result));

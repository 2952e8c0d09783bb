// Original file: proto/switchboard/v1/message_service.proto


export interface SendRequest {
  'fromUser'?: (string);
  'clientId'?: (string);
  'toUser'?: (string);
  'body'?: (string);
  'originInstance'?: (string);
  'originConnection'?: (string);
  'conversation'?: (string);
  'kind'?: (string);
  'members'?: (string)[];
}

export interface SendRequest__Output {
  'fromUser': (string);
  'clientId': (string);
  'toUser': (string);
  'body': (string);
  'originInstance': (string);
  'originConnection': (string);
  'conversation': (string);
  'kind': (string);
  'members': (string)[];
}
